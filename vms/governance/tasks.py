"""Periodic and on-commit work of the approval, waitlist and lease rules.

Not thin: a task that sends email first claims the rows it reports on (a conditional UPDATE,
or rows locked with skip_locked), so two workers running at once never send the same email
twice; then it hands over to notifications and the lifecycle services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from hikube_portal import task_names
from vms import errors, transitions
from vms.governance import lifecycle, notifications, selectors, waitlist
from vms.models import ChangeRequest, Event, VirtualMachine


@shared_task(name=task_names.ADVANCE_WAITLIST, ignore_result=True)
def advance_waitlist():
    waitlist.waitlist_advance()


@shared_task(name=task_names.NOTIFY_REQUESTER, ignore_result=True)
def notify_requester(vm_id: int):
    vm = VirtualMachine.objects.select_related("owner").get(pk=vm_id)
    decision = vm.events.filter(kind=Event.Kind.DECISION).select_related("actor").order_by("-id").first()
    notifications.send_decision(vm, decision)


@shared_task(name=task_names.NOTIFY_CHANGE_DECISION, ignore_result=True)
def notify_change_decision(change_id: int):
    change = ChangeRequest.objects.select_related("vm", "requested_by").get(pk=change_id)
    decision = change.vm.events.filter(kind=Event.Kind.DECISION, data__change_id=change.pk).order_by("-id").first()
    notifications.send_change_decision(change, decision)


@shared_task(name=task_names.NOTIFY_APPROVERS, ignore_result=True)
def notify_approvers():
    """Tell approvers about requests that arrived since the last run, in one digest when many."""
    with transaction.atomic():
        items = selectors.approval_items(only_unnotified=True)
        if not items:
            return
        now = timezone.now()
        # Mark first, conditionally: a second worker running at the same time finds nothing left.
        marked_vms = VirtualMachine.objects.filter(
            pk__in=[i.vm.pk for i in items if i.change is None],
            approvers_notified_at__isnull=True,
        ).update(approvers_notified_at=now)
        marked_changes = ChangeRequest.objects.filter(
            pk__in=[i.change.pk for i in items if i.change],
            approvers_notified_at__isnull=True,
        ).update(approvers_notified_at=now)
        if marked_vms + marked_changes != len(items):
            transaction.set_rollback(True)
            return
    notifications.send_new_requests(items)


@shared_task(name=task_names.REMIND_APPROVERS, ignore_result=True)
def remind_approvers():
    """Remind approvers of requests waiting longer than APPROVAL_REMINDER_HOURS, once per
    period. The marks are a conditional UPDATE, so two workers running at once remind once."""
    now = timezone.now()
    cutoff = now - timedelta(hours=settings.APPROVAL_REMINDER_HOURS)
    due = Q(approvers_reminded_at__isnull=True) | Q(approvers_reminded_at__lt=cutoff)
    items = [item for item in selectors.approval_items(older_than=cutoff) if item.change is None]
    with transaction.atomic():
        marked = set(
            VirtualMachine.objects.select_for_update(skip_locked=True)
            .filter(due, pk__in=[item.vm.pk for item in items])
            .values_list("pk", flat=True)
        )
        VirtualMachine.objects.filter(pk__in=marked).update(approvers_reminded_at=now)
    items = [item for item in items if item.vm.pk in marked]
    if items:
        notifications.send_approval_reminder(items)


@shared_task(name=task_names.CHECK_LEASES, ignore_result=True)
def check_leases():
    """Remind owners before their lease ends; stop the VM (disks kept) when it has ended."""
    now = timezone.now()
    soon = now + timedelta(hours=settings.LEASE_REMINDER_HOURS)
    for vm in selectors.leases_to_remind(until=soon):
        if VirtualMachine.objects.filter(pk=vm.pk, lease_reminded_at__isnull=True).update(lease_reminded_at=now):
            transitions.event_record(
                kind=Event.Kind.LEASE,
                vm=vm,
                message=N_("Lease ends on %(end)s: owner reminded"),
                data={"end": vm.lease_ends_at.isoformat(timespec="minutes")},
            )
            notifications.send_lease_reminder(vm)
    for vm in selectors.leases_ended(now=now):
        try:
            lifecycle.vm_stop(vm_id=vm.pk, reason="lease ended")
        except errors.InvalidTransition:
            continue
        transitions.event_record(kind=Event.Kind.LEASE, vm=vm, message=N_("Lease ended: VM stopped, disks kept"))
        notifications.send_lease_ended(vm)
