"""GPU figures of VMs read from Prometheus and joined with the portal's records: a VM's panels
and energy, utilisation across the fleet, whether the exporter runs, and the idle policy's
settings. Every function costs a fixed number of SQL and Prometheus queries, whatever the
number of VMs: figures for many VMs come from one fleet-wide query each, matched to VMs by
(namespace, VM name)."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml
from django.conf import settings
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from monitoring import promql
from monitoring.models import IdleStatus
from monitoring.prometheus import NOT_CONFIGURED, PrometheusError, PrometheusGateway, Series, shared_gateway
from vms import access
from vms.catalogue import seed
from vms.models import VirtualMachine

DAY = 86400


WEEK = 7 * DAY


HOUR = 3600


# What the GPU page says about a VM's telemetry, from one `up` query.
OK = "ok"


EXPORTER_DOWN = "exporter_down"


NOT_INSTALLED = "not_installed"


PROMETHEUS_FAILED = "prometheus_failed"


def gateway_or_default(gateway: PrometheusGateway | None) -> PrometheusGateway:
    return gateway if gateway is not None else shared_gateway()


def values_by_vm(series: list[Series], labels: promql.LabelNames) -> dict[tuple[str, str], float]:
    values = {}
    for item in series:
        value = item.points[0][1] if item.points else math.nan
        if math.isfinite(value):
            values[(item.labels.get(labels.namespace, ""), item.labels.get(labels.vm, ""))] = value
    return values


def fleet_values(gateway: PrometheusGateway, query: str, *, at: datetime | None = None):
    return values_by_vm(gateway.instant(query, at=at), gateway.config.labels)


def utilisation_by_vm(
    vms, *, window_seconds: int, at: datetime | None = None, gateway: PrometheusGateway | None = None
) -> dict[int, float | None]:
    """Mean GPU utilisation (0-100 %, garbage samples dropped) of each VM over the last
    `window_seconds` (before `at`, default now), keyed by VM id; None where Prometheus has no
    data for the VM.

    One Prometheus query for any number of VMs. Pass VMs with their team loaded
    (select_related("team")): the namespace comes from it. Raises PrometheusError (see its
    `kind` and `message`) when Prometheus is not configured or does not answer."""
    vms = list(vms)
    if not vms:
        return {}
    gateway = gateway_or_default(gateway)
    values = fleet_values(
        gateway,
        promql.fleet_utilisation_average(
            window_seconds=window_seconds,
            labels=gateway.config.labels,
            scrape_interval=gateway.config.scrape_interval_seconds,
        ),
        at=at,
    )
    return {vm.pk: values.get((vm.namespace, vm.name)) for vm in vms}


@dataclass(frozen=True)
class Telemetry:
    state: str
    message: str = ""

    @property
    def charts(self) -> bool:
        """Whether panels are worth asking for: Prometheus answered and has, or had, the VM."""
        return self.state in (OK, EXPORTER_DOWN)


def vm_telemetry(vm: VirtualMachine, *, gateway: PrometheusGateway | None = None) -> Telemetry:
    """Whether the VM's exporter is scraped, down or was never seen, in words. One query."""
    gateway = gateway_or_default(gateway)
    config = gateway.config
    try:
        series = gateway.instant(
            promql.exporter_up(namespace=vm.namespace, vm=vm.name, job=config.exporter_job, labels=config.labels)
        )
    except PrometheusError as error:
        return Telemetry(PROMETHEUS_FAILED, prometheus_error_text(error))
    if not series:
        return Telemetry(NOT_INSTALLED)
    if series[0].points[0][1] < 1:
        return Telemetry(EXPORTER_DOWN)
    return Telemetry(OK)


def prometheus_error_text(error: PrometheusError) -> str:
    if error.kind == NOT_CONFIGURED:
        return _("GPU metrics are not available: this portal has no Prometheus configured (PROMETHEUS_URL).")
    return _("GPU metrics are unavailable right now: %(detail)s.") % {"detail": error.message}


def exporter_block() -> dict:
    """The cloud-init software block that installs the DCGM exporter, as the page offers it."""
    block = next(block for block in seed.SOFTWARE_BLOCKS if block["slug"] == "dcgm-exporter")
    requires = [other["title"] for other in seed.SOFTWARE_BLOCKS if other["slug"] in block["requires"]]
    return {
        "slug": block["slug"],
        "title": _(block["title"]),
        "description": _(block["description"]),
        "requires": [_(title) for title in requires],
        "cloud_config": "#cloud-config\n" + yaml.safe_dump(block["cloud_config"], sort_keys=False, width=200),
    }


def vm_energy_kwh(
    vm: VirtualMachine, *, start: datetime, end: datetime, gateway: PrometheusGateway | None = None
) -> float | None:
    """Energy the VM's GPUs consumed between start and end, in kWh (None: no data). One query.

    Raises PrometheusError."""
    gateway = gateway_or_default(gateway)
    window = max(int((end - start).total_seconds()), 1)
    series = gateway.instant(
        promql.energy_kwh(namespace=vm.namespace, vm=vm.name, window_seconds=window, labels=gateway.config.labels),
        at=end,
    )
    if not series or not math.isfinite(series[0].points[0][1]):
        return None
    return series[0].points[0][1]


@dataclass(frozen=True)
class IdlePolicy:
    threshold_percent: float
    warn_after_hours: int
    stop_after_hours: int

    @property
    def window_seconds(self) -> int:
        return self.warn_after_hours * HOUR

    def is_idle(self, vm: VirtualMachine, average: float | None, *, now: datetime) -> bool | None:
        """Idle means: running for the whole window and its GPUs averaged below the threshold.
        None when unknown (no measurements: an exporter that was never installed is not idle)."""
        if vm.state != VirtualMachine.State.RUNNING or average is None:
            return None
        if vm.state_changed_at > now - timedelta(seconds=self.window_seconds):
            return False
        return average < self.threshold_percent

    def is_idle_expression(self, average: str, *, now: datetime) -> Case:
        """`is_idle` as SQL over VirtualMachine rows, `average` naming the field that holds the
        average (so that a list can sort and page on it)."""
        return Case(
            When(~Q(state=VirtualMachine.State.RUNNING), then=Value(None)),
            When(**{f"{average}__isnull": True}, then=Value(None)),
            When(state_changed_at__gt=now - timedelta(seconds=self.window_seconds), then=Value(False)),
            When(**{f"{average}__lt": self.threshold_percent}, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(null=True),
        )


def idle_policy() -> IdlePolicy:
    return IdlePolicy(
        threshold_percent=settings.IDLE_GPU_THRESHOLD_PERCENT,
        warn_after_hours=settings.IDLE_GPU_WARN_AFTER_HOURS,
        stop_after_hours=settings.IDLE_GPU_STOP_AFTER_HOURS,
    )


def vms_with_idle_status() -> QuerySet[VirtualMachine]:
    """VMs read with their idle status: the banner of a page showing one asks nothing more."""
    return access.page_vms().select_related("idle_status")


def idle_banner(vm: VirtualMachine) -> IdleStatus | None:
    """The VM's idle warning while it stands (what its pages show as a banner): no query for a
    VM read by vms_with_idle_status(), one otherwise."""
    try:
        status = vm.idle_status
    except IdleStatus.DoesNotExist:
        return None
    return status if status.warned_at is not None else None
