"""Every write the portal makes. Functions are keyword-only, run in a transaction, record what
they did in the event log, and enqueue Celery work only once the transaction commits."""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_
from kombu.exceptions import KombuError

from hikube_portal import task_names
from hikube_portal.celery import app as celery_app
from vms.access import is_own_request
from vms.governance import selectors
from vms.models import AutoApprovalRule, ChangeRequest, Event, Quota, VirtualMachine

log = logging.getLogger(__name__)
State = VirtualMachine.State
# A VM on its way out, or gone: nothing more may be asked for it.
GONE_STATES = {State.DELETING, State.DELETED, State.REJECTED}


def enqueue_on_commit(task: str, **arguments) -> None:
    """Send the Celery task named `task` (by name: no import cycle with the task modules) once
    the current transaction commits. A broker outage is logged, not raised: the rows are the
    source of truth and the periodic tasks (status sync, waitlist, notifications) catch up."""

    def send():
        try:
            celery_app.send_task(task, kwargs=arguments)
        except (KombuError, OSError) as exc:
            log.warning("could not enqueue %s%r: %s", task, arguments, exc)

    transaction.on_commit(send)


class InvalidTransition(Exception):
    """The VM was not in a state the move may start from (someone else moved it first)."""

    def __init__(self, vm_id, to_state, current_state):
        self.vm_id, self.to_state, self.current_state = vm_id, to_state, current_state
        super().__init__(f"VM {vm_id} cannot move to {to_state} from {current_state}")


def event_record(
    *,
    kind: str,
    message: str,
    actor=None,
    vm: VirtualMachine | None = None,
    team=None,
    target: str = "",
    reason: str = "",
    data: dict | None = None,
) -> Event:
    return Event.objects.create(
        kind=kind,
        message=message,
        actor=actor,
        vm=vm,
        team=team or (vm.team if vm else None),
        target=target or (str(vm) if vm else ""),
        reason=reason,
        data=data or {},
    )


@transaction.atomic
def vm_transition(
    *,
    vm_id: int,
    to_state: str,
    actor=None,
    message: str = "",
    reason: str = "",
    event_kind: str = Event.Kind.STATE,
    **fields,
) -> VirtualMachine:
    """Move the VM to `to_state` if, at this instant, it is in a state allowed to lead there.

    The check and the move are one UPDATE, so of two concurrent movers exactly one wins; the
    other gets InvalidTransition."""
    sources = VirtualMachine.ALLOWED_SOURCES[to_state]
    changed = VirtualMachine.objects.filter(pk=vm_id, state__in=sources).update(
        state=to_state, state_changed_at=timezone.now(), **fields
    )
    if changed != 1:
        current = VirtualMachine.objects.filter(pk=vm_id).values_list("state", flat=True).first()
        raise InvalidTransition(vm_id, to_state, current)
    vm = VirtualMachine.objects.select_related("team").get(pk=vm_id)
    event_record(kind=event_kind, vm=vm, actor=actor, reason=reason, message=message, data={"state": to_state})
    return vm


class QuotaExceeded(Exception):
    """The team would hold more GPUs of the model than its quota allows."""

    def __init__(self, *, team, gpu_model, used: int, requested: int, limit: int):
        self.team, self.gpu_model, self.used, self.requested, self.limit = team, gpu_model, used, requested, limit
        super().__init__(
            gettext(
                "Team %(team)s may hold %(limit)d× %(model)s; it holds or has asked for %(used)d, "
                "and this needs %(requested)d more."
            )
            % {"team": team.name, "limit": limit, "model": gpu_model.slug, "used": used, "requested": requested}
        )


def _quota_check(*, team, gpu_model, requested: int, exclude_vm_id: int | None = None) -> None:
    """Raise QuotaExceeded if `requested` more GPUs would not fit in the team's quota.

    Locks the quota row until the transaction ends, so concurrent requests for the same team and
    model are checked one after the other and cannot both squeeze into the last free GPUs."""
    quota = Quota.objects.select_for_update().filter(team=team, gpu_model=gpu_model).first()
    if quota is None:
        return
    used = selectors.team_gpus_committed(team=team, gpu_model=gpu_model, exclude_vm_id=exclude_vm_id)
    if used + requested > quota.max_gpus:
        raise QuotaExceeded(team=team, gpu_model=gpu_model, used=used, requested=requested, limit=quota.max_gpus)


class OwnRequest(Exception):
    """Separation of duties: nobody decides a request or a lease extension of their own, not even
    an approver or a superuser; another approver must."""

    def __init__(self, vm):
        super().__init__(
            gettext("You asked for %(name)s yourself: another approver must decide it.") % {"name": vm.name}
        )


class LeaseOver(Exception):
    def __init__(self, vm):
        super().__init__(
            gettext("The requested lease of %(name)s is already over: reject it, and the requester can ask again.")
            % {"name": vm.name}
        )


class NameTaken(Exception):
    def __init__(self, *, team, name):
        super().__init__(
            gettext("Team %(team)s already has a VM named “%(name)s”.") % {"team": team.name, "name": name}
        )


def _auto_approval_rule(*, gpu_model, gpu_count: int, lease_ends_at):
    if lease_ends_at is None:
        return None
    lease_hours = (lease_ends_at - timezone.now()).total_seconds() / 3600
    rules = AutoApprovalRule.objects.filter(active=True, max_gpus__gte=gpu_count, max_lease_hours__gte=lease_hours)
    return rules.filter(Q(gpu_model=gpu_model) | Q(gpu_model__isnull=True)).order_by("max_gpus").first()


@transaction.atomic
def vm_request(*, actor, team, spec, gpu_model, instance_type, api_shape: str, lease_ends_at=None) -> VirtualMachine:
    """Record a validated request in the state its GPU model's approval rules call for."""
    _quota_check(team=team, gpu_model=gpu_model, requested=instance_type.gpu_count)
    rule = None
    if gpu_model.needs_approval:
        rule = _auto_approval_rule(gpu_model=gpu_model, gpu_count=instance_type.gpu_count, lease_ends_at=lease_ends_at)
    needs_approval = gpu_model.needs_approval and rule is None
    try:
        with transaction.atomic():
            vm = VirtualMachine.objects.create(
                team=team,
                owner=actor,
                name=spec.name,
                instance_type=instance_type,
                gpu_model=gpu_model,
                gpu_count=instance_type.gpu_count,
                image=spec.image,
                system_disk_gib=spec.system_disk_gib,
                system_disk_class=spec.system_disk_class,
                disks=[{"name": d.name, "size_gib": d.size_gib, "storage_class": d.storage_class} for d in spec.disks],
                public_ports=list(spec.public_ports),
                ssh_keys=list(spec.ssh_keys),
                software=list(spec.software),
                cloud_config=spec.cloud_config,
                network=spec.network or "",
                justification=spec.justification,
                api_shape=api_shape,
                lease_ends_at=lease_ends_at,
                state=State.PENDING_APPROVAL if needs_approval else State.APPROVED,
            )
    except IntegrityError:
        # Another request for the same name committed since the form checked it (a double submit).
        raise NameTaken(team=team, name=spec.name) from None
    event_record(
        kind=Event.Kind.REQUEST,
        vm=vm,
        actor=actor,
        reason=spec.justification,
        message=N_("Requested %(gpus)d× %(model)s on %(instance_type)s"),
        data={"state": vm.state, "gpus": vm.gpu_count, "model": gpu_model.slug, "instance_type": instance_type.name},
    )
    if rule is not None:
        event_record(
            kind=Event.Kind.DECISION,
            vm=vm,
            message=N_("Approved automatically by the rule “%(rule)s”"),
            data={"rule": str(rule), "decision": "approved"},
        )
    if not needs_approval:
        enqueue_on_commit(task_names.ADVANCE_WAITLIST)
    return vm


@transaction.atomic
def vm_approve(*, vm_id: int, actor, reason: str = "") -> VirtualMachine:
    """Approve a waiting request. Re-checks the team's quota: it may have been lowered, or
    filled by VMs approved since the request was made."""
    vm = VirtualMachine.objects.select_related("team", "gpu_model").get(pk=vm_id)
    if is_own_request(actor, vm=vm):
        raise OwnRequest(vm)
    if vm.lease_ended:
        raise LeaseOver(vm)
    _quota_check(team=vm.team, gpu_model=vm.gpu_model, requested=vm.gpu_count, exclude_vm_id=vm.pk)
    vm = vm_transition(
        vm_id=vm_id,
        to_state=State.APPROVED,
        actor=actor,
        reason=reason,
        message=N_("Approved"),
        event_kind=Event.Kind.DECISION,
    )
    enqueue_on_commit(task_names.ADVANCE_WAITLIST)
    enqueue_on_commit(task_names.NOTIFY_REQUESTER, vm_id=vm.pk)
    return vm


@transaction.atomic
def vm_reject(*, vm_id: int, actor, reason: str) -> VirtualMachine:
    if not reason.strip():
        raise ValueError("A rejection needs a reason.")
    vm = VirtualMachine.objects.get(pk=vm_id)
    if is_own_request(actor, vm=vm):
        raise OwnRequest(vm)
    vm = vm_transition(
        vm_id=vm_id,
        to_state=State.REJECTED,
        actor=actor,
        reason=reason.strip(),
        message=N_("Rejected"),
        event_kind=Event.Kind.DECISION,
    )
    enqueue_on_commit(task_names.NOTIFY_REQUESTER, vm_id=vm.pk)
    return vm


# Change requests are lease extensions: a resize keeps the GPU model and count (see
# vms.lifecycle.vm_resize), so it never needs an approver.
CHANGE_MESSAGES = {
    ChangeRequest.State.APPROVED: N_("Lease extension approved"),
    ChangeRequest.State.REJECTED: N_("Lease extension rejected"),
}


class ChangeAlreadyPending(Exception):
    def __init__(self, *, vm):
        super().__init__(gettext("A lease extension of %(vm)s already waits for approval.") % {"vm": vm.name})


def _change_decide(*, change_id: int, actor, to_state: str, reason: str) -> ChangeRequest:
    change = ChangeRequest.objects.select_related("vm").get(pk=change_id)
    if is_own_request(actor, vm=change.vm, change=change):
        raise OwnRequest(change.vm)
    changed = (
        ChangeRequest.objects.filter(pk=change_id, state=ChangeRequest.State.PENDING)
        .exclude(vm__state__in=GONE_STATES)
        .update(state=to_state)
    )
    if changed != 1:
        raise InvalidTransition(
            change_id, to_state, ChangeRequest.objects.filter(pk=change_id).values_list("state", flat=True).first()
        )
    change = ChangeRequest.objects.select_related("vm__team").get(pk=change_id)
    event_record(
        kind=Event.Kind.DECISION,
        vm=change.vm,
        actor=actor,
        reason=reason,
        message=CHANGE_MESSAGES[to_state],
        data={"decision": to_state, "change_id": change.pk},
    )
    enqueue_on_commit(task_names.NOTIFY_CHANGE_DECISION, change_id=change.pk)
    return change


@transaction.atomic
def change_request_approve(*, change_id: int, actor, reason: str = "") -> ChangeRequest:
    change = _change_decide(change_id=change_id, actor=actor, to_state=ChangeRequest.State.APPROVED, reason=reason)
    VirtualMachine.objects.filter(pk=change.vm.pk).update(lease_ends_at=change.lease_ends_at, lease_reminded_at=None)
    return change


@transaction.atomic
def change_request_reject(*, change_id: int, actor, reason: str) -> ChangeRequest:
    if not reason.strip():
        raise ValueError("A rejection needs a reason.")
    return _change_decide(
        change_id=change_id, actor=actor, to_state=ChangeRequest.State.REJECTED, reason=reason.strip()
    )


@transaction.atomic
def lease_extend(*, vm_id: int, actor, lease_ends_at, justification: str = "") -> ChangeRequest:
    """Ask for a later lease end: approvers decide for models that need approval; for the
    others it is granted at once (still recorded as a change and its decision)."""
    # Locked before the state is read: a deletion committing meanwhile would otherwise leave a
    # pending extension on a VM on its way out (vm_delete withdraws only those it can see).
    vm = VirtualMachine.objects.select_for_update(of=("self",)).select_related("team", "gpu_model").get(pk=vm_id)
    if vm.state in GONE_STATES:
        raise InvalidTransition(vm_id, "lease extension", vm.state)
    try:
        with transaction.atomic():
            change = ChangeRequest.objects.create(
                vm=vm,
                kind=ChangeRequest.Kind.EXTEND_LEASE,
                requested_by=actor,
                justification=justification,
                lease_ends_at=lease_ends_at,
            )
    except IntegrityError:
        raise ChangeAlreadyPending(vm=vm) from None
    event_record(
        kind=Event.Kind.REQUEST,
        vm=vm,
        actor=actor,
        reason=justification,
        message=N_("Asked for a lease extension"),
        data={"change_id": change.pk},
    )
    if not vm.gpu_model.needs_approval:
        change = change_request_approve(change_id=change.pk, actor=None)
    return change
