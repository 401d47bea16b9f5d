from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from hikube_portal import health
from vms import selectors
from vms.access import can_approve

HOME_VMS = 8


@login_required
def home(request):
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    context = {
        "memberships": memberships,
        "vms": selectors.vm_list(user=request.user, mine=True)[:HOME_VMS],
        "waiting_for_me": selectors.approval_count() if can_approve(request.user) else None,
    }
    return render(request, "home.html", context)


@never_cache
def healthz(request):
    results = {}
    for name, check in health.CHECKS.items():
        ok, detail = check()
        results[name] = {"ok": ok, "detail": detail}
    healthy = all(results[name]["ok"] for name in health.CRITICAL)
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": results},
                        status=200 if healthy else 503)
