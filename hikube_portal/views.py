import hmac
from ipaddress import ip_address

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily

from hikube_portal import health, metrics
from hikube_portal.fragments import row_values
from vms import access
from vms.catalogue import seed
from vms.catalogue.loading import rendered_vm_rows
from vms.governance import selectors
from vms.models import Preset, name_columns

HOME_VMS = 8
# What a row of the home page's VM table shows (templates/home.html).
HOME_VM_FIELDS = ("name", "state", "gpu_count", *name_columns("team", person=False))


@login_required
def home(request):
    memberships = access.memberships(request.user)
    vms = selectors.vm_list(user=request.user, mine=True, fields=HOME_VM_FIELDS)
    rows = rendered_vm_rows("home.html#vm-row", list(row_values(vms)[:HOME_VMS]), vms)
    context = {
        "memberships": memberships,
        "rows": rows,
        "waiting_for_me": selectors.approval_count(approver=request.user) if access.can_approve(request.user) else None,
        # A newcomer's first page walks them to a first VM.
        "starter": Preset.objects.filter(slug=seed.STARTER_PRESET).first() if not rows else None,
    }
    return render(request, "home.html", context)


def _bearer_matches(request, expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


def _may_read_health_details(request) -> bool:
    """Staff, or a monitoring system presenting HEALTHZ_TOKEN as a bearer token. The details name
    versions and hosts an attacker would like to know."""
    return request.user.is_staff or _bearer_matches(request, settings.HEALTHZ_TOKEN)


# Headers a reverse proxy adds: a request that came through one is not a local caller, even
# when the proxy itself connects from loopback.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def _may_scrape(request) -> bool:
    """A scraper presenting METRICS_TOKEN; with none set, only a local caller (loopback, and
    not through a proxy)."""
    if settings.METRICS_TOKEN:
        return _bearer_matches(request, settings.METRICS_TOKEN)
    if any(header in request.META for header in PROXY_HEADERS):
        return False
    return ip_address(request.META.get("REMOTE_ADDR", "0.0.0.0")).is_loopback  # noqa: S104 - a default, not a bind


class _PortalState:
    """Metrics read from the database when scraped (two queries): VMs by state, the waitlist."""

    def collect(self):
        by_state = GaugeMetricFamily("portal_vms", "VMs the portal records, by state.", labels=["state"])
        for state, count in selectors.vm_counts_by_state().items():
            by_state.add_metric([state], count)
        yield by_state
        waiting = GaugeMetricFamily(
            "portal_waitlist_length", "Approved requests waiting for GPUs, by GPU model.", labels=["gpu_model"]
        )
        for gpu_model, count in selectors.waitlist_lengths().items():
            waiting.add_metric([gpu_model], count)
        yield waiting


@require_safe
@never_cache
def metrics_view(request):
    if not _may_scrape(request):
        return HttpResponse("Forbidden: send Authorization: Bearer <METRICS_TOKEN>.\n", status=403)
    body, content_type = metrics.scrape(_PortalState())
    return HttpResponse(body, content_type=content_type)


@require_safe
def livez(request):
    """Liveness: the process answers. Nothing else is asked (no database, Redis or cluster), so
    an outage of those never restarts a pod that could serve again once they are back."""
    return HttpResponse("ok\n", content_type="text/plain")


def login_locked_out(request, original_response, credentials):
    """django-axes' answer to a locked-out login: says for how long, in the user's language."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"lockout_minutes": minutes}, status=429)


@never_cache
def healthz(request):
    healthy, checks = health.report()
    body = {"status": "ok" if healthy else "unavailable"}
    if _may_read_health_details(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if healthy else 503)
