import json

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from hikube_portal.csv_cells import csv_response
from hikube_portal.fragments import rendered_fragment
from monitoring import metrics, usage
from monitoring.fleet import figures_state, fleet_page, fleet_row, fleet_rows
from monitoring.forms import RANGE_LABELS, MonthForm, RangeForm
from monitoring.prometheus import PrometheusError, shared_gateway
from monitoring.telemetry import (
    exporter_block,
    idle_policy,
    prometheus_error_text,
    vm_energy_kwh,
    vm_telemetry,
    vms_with_idle_status,
)
from vms import access
from vms.access import vm_for_user
from vms.catalogue.loading import rendered_vm_rows
from vms.models import VirtualMachine

DEFAULT_WIDTH_PX = 800
# Bounds on the width the browser reports: it sets the step, so it must not make a panel
# ask for more points than any screen shows.
MIN_WIDTH_PX, MAX_WIDTH_PX = 100, 4000
MIN_REFRESH_SECONDS = 30
# A panel needs the VM's name and namespace only: it is asked for nine times a page load.
PANEL_VM = VirtualMachine.objects.select_related("team").only("pk", "name", "team_id", "team__name")


def _range_form(request) -> RangeForm:
    return RangeForm(request.GET if "range" in request.GET else None)


@login_required
def vm_gpus(request, vm_id):
    vm = vm_for_user(request.user, vm_id, queryset=vms_with_idle_status())
    form = _range_form(request)
    chart_range = form.chart_range()
    telemetry = vm_telemetry(vm)
    query = chart_range.query()
    panels = [
        {
            "key": key,
            "title": metrics.panel(key).title,
            "unit": metrics.panel(key).unit,
            "url": f"{reverse('vm_gpu_panel', args=[vm.pk, key])}?{query}",
        }
        for key in metrics.CHART_PANELS
    ]
    ranges = [{"key": key, "label": label, "active": chart_range.key == key} for key, label in RANGE_LABELS.items()]
    return render(
        request,
        "monitoring/vm_gpus.html",
        {
            "vm": vm,
            "form": form,
            "chart_range": chart_range,
            "ranges": ranges,
            "panels": panels,
            "telemetry": telemetry,
            "exporter_block": exporter_block(),
            "energy_url": f"{reverse('vm_gpu_energy', args=[vm.pk])}?{query}",
            "energy_loading": True,
            "refresh_seconds": MIN_REFRESH_SECONDS if chart_range.relative else 0,
        },
    )


@login_required
def vm_gpu_panel(request, vm_id, key):
    """One chart panel as JSON: one Prometheus range query for all the VM's GPUs, its answer
    encoded once and served as bytes to every viewer of the same range in the same language."""
    vm = vm_for_user(request.user, vm_id, queryset=PANEL_VM)
    if key not in metrics.CHART_PANELS:
        raise Http404
    chart_range = _range_form(request).chart_range()
    try:
        width = min(max(int(request.GET.get("width", DEFAULT_WIDTH_PX)), MIN_WIDTH_PX), MAX_WIDTH_PX)
    except ValueError:
        width = DEFAULT_WIDTH_PX
    gateway = shared_gateway()
    query = gateway.panel_query(
        key, namespace=vm.namespace, vm=vm.name, start=chart_range.start, end=chart_range.end, width_px=width
    )
    body_key = f"{gateway.panel_cache_key(query)}:json:{get_language()}:{int(chart_range.relative)}"
    body = cache.get(body_key)
    if body is None:
        spec = metrics.panel(key)
        try:
            chart = gateway.panel_for(key, query)
        except PrometheusError as error:
            return JsonResponse(
                {
                    "panel": key,
                    "title": str(spec.title),
                    "unit": str(spec.unit),
                    "error": prometheus_error_text(error),
                },
                status=503,
            )
        chart["refresh_seconds"] = max(MIN_REFRESH_SECONDS, chart["step_seconds"]) if chart_range.relative else 0
        if not chart["gpus"]:
            chart["message"] = (
                _("Not reported by this GPU: it or its driver does not support the profiling field %(metric)s.")
                % {"metric": spec.metric}
                if spec.dcp
                else _("No data in this range.")
            )
        body = json.dumps(chart, separators=(",", ":")).encode()
        cache.set(body_key, body, timeout=gateway.panel_cache_seconds)
    return HttpResponse(body, content_type="application/json")


@login_required
def vm_gpu_energy(request, vm_id):
    vm = vm_for_user(request.user, vm_id)
    chart_range = _range_form(request).chart_range()
    context = {"vm": vm, "chart_range": chart_range}
    try:
        context["energy_kwh"] = vm_energy_kwh(vm, start=chart_range.start, end=chart_range.end)
    except PrometheusError as error:
        context["energy_error"] = prometheus_error_text(error)
    return render(request, "monitoring/vm_gpus.html#energy", context)


def _figure(value, digits=1):
    return "" if value is None else f"{value:.{digits}f}"


@login_required
def fleet(request):
    access.fleet_viewer_required(request.user)
    sort = request.GET.get("sort", "name")
    descending = request.GET.get("dir") == "desc"
    team_id = request.GET.get("team", "")
    team_ids = [int(team_id)] if team_id.isdecimal() else None
    if request.GET.get("format") == "csv":
        return csv_response(
            f"gpu-fleet-{timezone.localdate():%Y-%m-%d}.csv",
            [
                "vm",
                "team",
                "owner",
                "gpu_model",
                "gpus",
                "avg_util_24h_percent",
                "max_util_24h_percent",
                "avg_util_7d_percent",
                "max_util_7d_percent",
                "memory_used_1h_percent",
                "power_1h_watts",
                "idle",
            ],
            (
                [
                    row.vm.name,
                    row.vm.team.name,
                    row.vm.owner.username,
                    row.vm.gpu_model.slug,
                    row.vm.gpu_count,
                    _figure(row.avg_24h),
                    _figure(row.max_24h),
                    _figure(row.avg_7d),
                    _figure(row.max_7d),
                    _figure(row.memory_percent),
                    _figure(row.power_watts),
                    "" if row.idle is None else ("yes" if row.idle else "no"),
                ]
                for row in fleet_rows(request.user, team_ids=team_ids, sort=sort, descending=descending)
            ),
        )
    page, vms = fleet_page(
        request.user, team_ids=team_ids, sort=sort, descending=descending, page=request.GET.get("page")
    )
    columns = [
        ("name", _("VM")),
        ("team", _("Team")),
        ("owner", _("Owner")),
        ("gpu_model", _("GPU model")),
        ("gpus", _("GPUs")),
        ("avg_24h", _("Avg 24 h")),
        ("max_24h", _("Peak 24 h")),
        ("avg_7d", _("Avg 7 d")),
        ("max_7d", _("Peak 7 d")),
        ("memory_percent", _("Memory (1 h)")),
        ("power_watts", _("Power (1 h)")),
        ("idle", _("Idle")),
    ]
    headers = [
        {
            "key": key,
            "label": label,
            "active": key == sort,
            "dir": "asc" if key == sort and descending else "desc" if key == sort else "asc",
        }
        for key, label in columns
    ]
    teams = access.managed_teams(request.user)
    return render(
        request,
        "monitoring/fleet.html",
        {
            "page": page,
            "figures": figures_state(),
            "headers": headers,
            "sort": sort,
            "descending": descending,
            "rows": rendered_vm_rows(
                "monitoring/fleet.html#fleet-row", page.object_list, vms, name="row", row_of=fleet_row
            ),
            # A filter only for those who see more than one team.
            "team_options": rendered_fragment(
                "monitoring/fleet.html#team-options", {"teams": teams, "team_id": team_ids[0] if team_ids else None}
            )
            if len(teams) > 1
            else "",
            "policy": idle_policy(),
        },
    )


@login_required
def gpu_hours(request):
    access.fleet_viewer_required(request.user)
    form = MonthForm(request.GET or None)
    year, month = form.year_month()
    start, end = usage.month_bounds(year, month)
    report = usage.gpu_hours(request.user, start=start, end=end)
    if request.GET.get("format") == "csv":
        table = request.GET.get("table", "vm")
        rows = {"user": report.users, "team": report.teams}.get(table, report.vms)
        return csv_response(
            f"gpu-hours-{year:04d}-{month:02d}-{table if table in ('user', 'team') else 'vm'}.csv",
            ["name", "team", "owner", "gpu_model", "gpus", "vms", "held_gpu_hours", "used_gpu_hours", "used_percent"],
            (
                [
                    row.label,
                    row.team,
                    row.owner,
                    row.gpu_model,
                    "" if row.gpus is None else row.gpus,
                    row.vm_count,
                    _figure(row.held_hours, 2),
                    _figure(row.used_hours, 2),
                    _figure(row.used_percent),
                ]
                for row in rows
            ),
        )
    return render(
        request,
        "monitoring/gpu_hours.html",
        {
            "form": form,
            "report": report,
            "month": f"{year:04d}-{month:02d}",
            "tables": [
                ("vm", _("Per VM"), report.vms),
                ("user", _("Per owner"), report.users),
                ("team", _("Per team"), report.teams),
            ],
        },
    )
