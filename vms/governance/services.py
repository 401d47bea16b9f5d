"""The writes of requests, approvals and lease extensions. Like every service (the VM actions
are in vms.governance.lifecycle), each is keyword-only, runs in a transaction, records what it
did in the event log and enqueues Celery work only once the transaction commits, all through
vms.transitions."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from hikube_portal import task_names
from vms.access import is_own_request
from vms.errors import ChangeAlreadyPending, InvalidTransition, LeaseOver, NameTaken, OwnRequest, QuotaExceeded
from vms.governance import selectors
from vms.models import AutoApprovalRule, ChangeRequest, Event, Quota, VirtualMachine
from vms.states import GONE_STATES
from vms.transitions import enqueue_on_commit, event_record, vm_transition

State = VirtualMachine.State


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
# vms.governance.lifecycle.vm_resize), so it never needs an approver.
CHANGE_MESSAGES = {
    ChangeRequest.State.APPROVED: N_("Lease extension approved"),
    ChangeRequest.State.REJECTED: N_("Lease extension rejected"),
}


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
