"""Every email the portal sends: requests, decisions, leases and idle GPUs.

Each function takes already-loaded objects, renders templates/emails/<name>.txt (its first line
is the subject) and sends one message; the Celery tasks in vms.governance.tasks and monitoring.idle decide when."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string

from vms.access import APPROVE_PERMISSION, is_own_request


def approvers():
    # Named: with django-axes in front, Django cannot guess which backend holds the permissions.
    return (
        get_user_model()
        .objects.with_perm(
            APPROVE_PERMISSION, include_superusers=False, backend="django.contrib.auth.backends.ModelBackend"
        )
        .exclude(email="")
        .order_by("pk")
    )


def _send(template: str, context: dict, recipients: list[str]) -> int:
    if not recipients:
        return 0
    context = {**context, "portal_url": settings.PORTAL_URL.rstrip("/")}
    subject, _, body = render_to_string(f"emails/{template}.txt", context).strip().partition("\n")
    return send_mail(subject.strip(), body.strip() + "\n", None, recipients)


def _by_approver(items: list) -> list[tuple[list, list[str]]]:
    """The approvers' addresses, grouped by the items each may decide: never their own request or
    lease extension (separation of duties), so nobody is asked to decide what they asked for."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for user in approvers():
        theirs = tuple(
            index for index, item in enumerate(items) if not is_own_request(user, vm=item.vm, change=item.change)
        )
        if theirs:
            groups.setdefault(theirs, []).append(user.email)
    return [([items[index] for index in indexes], emails) for indexes, emails in groups.items()]


def send_new_requests(items: list) -> int:
    """One email per request, or one digest when several arrived together."""
    sent = 0
    for theirs, recipients in _by_approver(items):
        if len(theirs) >= settings.APPROVAL_DIGEST_THRESHOLD:
            sent += _send("approval_digest", {"items": theirs}, recipients)
        else:
            sent += sum(_send("approval_request", {"item": item}, recipients) for item in theirs)
    return sent


def send_approval_reminder(items: list) -> int:
    return sum(
        _send("approval_reminder", {"items": theirs, "hours": settings.APPROVAL_REMINDER_HOURS}, recipients)
        for theirs, recipients in _by_approver(items)
    )


def send_decision(vm, decision_event) -> int:
    return _send("decision", {"vm": vm, "event": decision_event}, [vm.owner.email] if vm.owner.email else [])


def send_change_decision(change, decision_event) -> int:
    owner = change.requested_by
    return _send("change_decision", {"change": change, "event": decision_event}, [owner.email] if owner.email else [])


def send_lease_reminder(vm) -> int:
    return _send("lease_reminder", {"vm": vm}, [vm.owner.email] if vm.owner.email else [])


def send_lease_ended(vm) -> int:
    return _send("lease_ended", {"vm": vm}, [vm.owner.email] if vm.owner.email else [])


def send_idle_warning(vm, *, average: float, hours: int, threshold: float) -> int:
    context = {"vm": vm, "average": average, "hours": hours, "threshold": threshold}
    return _send("idle_warning", context, [vm.owner.email] if vm.owner.email else [])
