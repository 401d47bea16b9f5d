"""Approver views: the queue of waiting requests with their context, and the decisions."""

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.timesince import timeuntil
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hikube_portal.dates import age
from hikube_portal.fragments import rendered_rows
from monitoring.fleet import figures_of, figures_state
from vms import errors
from vms.access import approver_required
from vms.governance import selectors, services
from vms.models import ChangeRequest, VirtualMachine

# A card carries what a dozen list rows do (the request, the team's quota, free GPUs and largest
# VMs): ten of them make a page as long as a list's.
APPROVALS_PER_PAGE = 10


@login_required
def approval_queue(request):
    approver_required(request.user)
    page = Paginator(selectors.approval_items(cards=True), APPROVALS_PER_PAGE).get_page(request.GET.get("page"))
    rows = selectors.approval_rows(approver=request.user, items=page.object_list)
    figures = figures_of(vm.pk for row in rows for vm in row.held)
    rows = [
        {
            "item": row.item,
            "quota": row.quota,
            "team_held": [(vm, getattr(figures.get(vm.pk), "avg_7d", None)) for vm in row.held],
            "team_held_more": row.held_more,
            "team_vms_url": f"{reverse('vm_list')}?team={row.item.vm.team_id}",
            "requester_gpus": row.requester_gpus,
            "team_gpus": row.team_gpus,
            "free": row.free,
            "will_wait": row.will_wait,
            "own": row.own,
        }
        for row in rows
    ]
    # The card without its decision form, which carries the approver's CSRF token.
    cards = rendered_rows("vms/approvals.html#approval-card", rows, name="row", extra=_said_at_this_time)
    for row, card in zip(rows, cards, strict=True):
        row["card"] = card
    return render(request, "vms/approvals.html", {"rows": rows, "page": page, "figures": figures_state()})


def _said_at_this_time(row) -> dict:
    """What a card says of the clock: how long the request has waited, how long its lease has left."""
    vm = row["item"].vm
    return {
        "waiting": age(row["item"].created_at),
        "lease_left": timeuntil(vm.lease_ends_at) if vm.lease_ends_at else "",
    }


def _decision(request):
    decision, reason = request.POST.get("decision"), request.POST.get("reason", "").strip()[:2000]
    if decision not in ("approve", "reject"):
        messages.error(request, _("Choose approve or reject."))
        return None, reason
    if decision == "reject" and not reason:
        messages.error(request, _("Say why you reject the request: the requester reads it."))
        return None, reason
    return decision, reason


def _back_to_queue(request):
    """The queue's page the decision was taken on: deciding on page 3 keeps the approver there."""
    page = request.POST.get("page", "")
    query = f"?page={page}" if page.isascii() and page.isdecimal() and page.lstrip("0") not in ("", "1") else ""
    return redirect(reverse("approval_queue") + query)


def _decide(request, *, approve, reject, approved_message: str, rejected_message: str):
    decision, reason = _decision(request)
    if decision is None:
        return _back_to_queue(request)
    try:
        if decision == "approve":
            approve(actor=request.user, reason=reason)
            messages.success(request, approved_message)
        else:
            reject(actor=request.user, reason=reason)
            messages.success(request, rejected_message)
    except errors.InvalidTransition:
        messages.warning(request, _("Someone already decided this request."))
    except (errors.QuotaExceeded, errors.LeaseOver, errors.OwnRequest) as error:
        messages.error(request, str(error))
    return _back_to_queue(request)


@login_required
@require_POST
def approval_decide_vm(request, vm_id):
    approver_required(request.user)
    vm = VirtualMachine.objects.filter(pk=vm_id).first()
    if vm is None:
        raise Http404
    return _decide(
        request,
        approve=partial(services.vm_approve, vm_id=vm_id),
        reject=partial(services.vm_reject, vm_id=vm_id),
        approved_message=_("%(name)s approved.") % {"name": vm.name},
        rejected_message=_("%(name)s rejected.") % {"name": vm.name},
    )


@login_required
@require_POST
def approval_decide_change(request, change_id):
    approver_required(request.user)
    if not ChangeRequest.objects.filter(pk=change_id).exists():
        raise Http404
    return _decide(
        request,
        approve=partial(services.change_request_approve, change_id=change_id),
        reject=partial(services.change_request_reject, change_id=change_id),
        approved_message=_("Change approved."),
        rejected_message=_("Change rejected."),
    )
