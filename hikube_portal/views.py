import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from hikube_portal import health
from vms.access import can_approve
from vms.catalogue import seed
from vms.governance import selectors
from vms.models import Preset

HOME_VMS = 8


@login_required
def home(request):
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    vms = list(selectors.vm_list(user=request.user, mine=True)[:HOME_VMS])
    context = {
        "memberships": memberships,
        "vms": vms,
        "waiting_for_me": selectors.approval_count(approver=request.user) if can_approve(request.user) else None,
        # A newcomer's first page walks them to a first VM.
        "starter": Preset.objects.filter(slug=seed.STARTER_PRESET).first() if not vms else None,
    }
    return render(request, "home.html", context)


def _may_read_health_details(request) -> bool:
    """Staff, or a monitoring system presenting HEALTHZ_TOKEN as a bearer token. The details name
    versions and hosts an attacker would like to know."""
    if request.user.is_staff:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.HEALTHZ_TOKEN
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


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
