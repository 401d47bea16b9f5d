"""What users (and the portal's own policies) may do to a VM once it is recorded.

Each service is keyword-only and transactional: it checks the VM's state in the same UPDATE
that moves it (vms.transitions.vm_transition), records the event, and enqueues the Celery task
once the transaction commits, passing the VM's id. It raises InvalidTransition when the VM's
state does not allow the action. Call them inside an enclosing transaction or not: the task is
only sent when the outermost transaction commits.

The database is the source of truth, the broker only carries reminders: a task that cannot be
enqueued (Redis down) or is lost is enqueued again by the status sync (vms.cluster.sync), so the
services never fail because the broker did.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_

from hikube_portal import task_names
from vms.errors import InvalidTransition, LeaseEnded, ResizeRefused
from vms.models import ChangeRequest, Event, InstanceType, VirtualMachine
from vms.states import ACTIONS_BY_STATE, AWAITED_TASKS, REQUEST_STATES
from vms.transitions import enqueue_on_commit, event_record, vm_transition

State = VirtualMachine.State


def confirmation_overdue(vm: VirtualMachine) -> bool:
    """The cluster has not confirmed the start, stop (resize, restart by stop and start) or
    deletion within CLUSTER_CONFIRM_DEADLINE_SECONDS."""
    deadline = timedelta(seconds=settings.CLUSTER_CONFIRM_DEADLINE_SECONDS)
    return vm.state in AWAITED_TASKS and timezone.now() - vm.state_changed_at > deadline


def available_actions(vm: VirtualMachine) -> set[str]:
    """The actions (start, stop, restart, power_cycle, resize, delete, retry) the VM's state
    allows, for the pages' buttons."""
    actions = set(ACTIONS_BY_STATE.get(vm.state, ()))
    if (vm.state == State.FAILED and vm.failure_retryable) or confirmation_overdue(vm):
        actions.add("retry")
    return actions


def restart_refused(vm: VirtualMachine, timeline) -> bool:
    """The newest restart of the running VM was refused by the cluster (and no stop and start
    followed); `timeline` is its events, newest first."""
    newest = next((event.data["restart"] for event in timeline if "restart" in (event.data or {})), None)
    return vm.state == State.RUNNING and newest == "refused"


def offered_actions(vm: VirtualMachine, timeline, *, can_manage: bool) -> set[str]:
    """What the pages' buttons and the API offer someone: available_actions, except a restart the
    cluster refused (it would refuse it again: a stop and start is offered instead)."""
    if not can_manage:
        return set()
    return available_actions(vm) - ({"restart"} if restart_refused(vm, timeline) else set())


def _locked_state(vm_id: int, allowed: set[str], to_state: str) -> VirtualMachine:
    """The VM, row-locked until the transaction ends, if its state is in `allowed`."""
    vm = VirtualMachine.objects.select_for_update().filter(pk=vm_id).first()
    if vm is None or vm.state not in allowed:
        raise InvalidTransition(vm_id, to_state, vm.state if vm else None)
    return vm


def _work(vm_id: int, to_state: str, task_name: str, *, actor=None, reason: str = "", **fields) -> VirtualMachine:
    vm = vm_transition(
        vm_id=vm_id, to_state=to_state, actor=actor, reason=reason, work_touched_at=timezone.now(), **fields
    )
    enqueue_on_commit(task_name, vm_id=vm_id)
    return vm


@transaction.atomic
def vm_provision(*, vm_id: int, actor=None) -> VirtualMachine:
    """Approved → provisioning: creates the VM on the cluster."""
    _locked_state(vm_id, {State.APPROVED}, State.PROVISIONING)
    return _work(vm_id, State.PROVISIONING, task_names.PROVISION_VM, actor=actor)


def _require_lease(vm_id: int) -> None:
    vm = VirtualMachine.objects.get(pk=vm_id)
    if vm.lease_ended:
        raise LeaseEnded(vm)


@transaction.atomic
def vm_start(*, vm_id: int, actor) -> VirtualMachine:
    """Stopped → starting. Refused (LeaseEnded) once the lease is over."""
    _require_lease(vm_id)
    return _work(vm_id, State.STARTING, task_names.START_VM, actor=actor)


@transaction.atomic
def vm_stop(*, vm_id: int, actor=None, reason: str = "") -> VirtualMachine:
    """Running, starting or provisioning → stopping. The disks are kept."""
    return _work(vm_id, State.STOPPING, task_names.STOP_VM, actor=actor, reason=reason)


@transaction.atomic
def vm_restart(*, vm_id: int, actor) -> VirtualMachine:
    """Reboots a running VM through KubeVirt's restart subresource; its state stays running.

    One click, one restart: while a restart waits to be delivered, another is refused
    (InvalidTransition), in the same conditional UPDATE that records it."""
    now = timezone.now()
    not_pending = Q(restart_requested_at__isnull=True) | Q(
        restart_requested_at__lt=now - timedelta(seconds=settings.CLUSTER_WORK_STALE_SECONDS)
    )
    if (
        VirtualMachine.objects.filter(not_pending, pk=vm_id, state=State.RUNNING).update(
            restart_requested_at=now, work_touched_at=now
        )
        != 1
    ):
        raise InvalidTransition(
            vm_id, "restart", VirtualMachine.objects.filter(pk=vm_id).values_list("state", flat=True).first()
        )
    vm = VirtualMachine.objects.select_related("team").get(pk=vm_id)
    event_record(
        kind=Event.Kind.ACTION, vm=vm, actor=actor, message=N_("Restart requested"), data={"restart": "requested"}
    )
    enqueue_on_commit(task_names.RESTART_VM, vm_id=vm_id)
    return vm


@transaction.atomic
def vm_power_cycle(*, vm_id: int, actor) -> VirtualMachine:
    """Running → stopping → stopped → starting: a restart for clusters that refuse KubeVirt's."""
    vm = _work(vm_id, State.STOPPING, task_names.POWER_CYCLE_VM, actor=actor)
    event_record(
        kind=Event.Kind.ACTION,
        vm=vm,
        actor=actor,
        message=N_("Stop and start requested"),
        data={"restart": "power_cycle"},
    )
    return vm


@transaction.atomic
def vm_resize(*, vm_id: int, actor, instance_type_id: int) -> VirtualMachine:
    """Changes the instance type of a running or stopped VM, within its GPU series: the GPU count
    (and so the quota and the GPUs held) stays the same; more GPUs mean a new request.

    A running VM is stopped, resized and started again (KubeVirt applies an instance type at
    boot); a stopped VM is resized and stays stopped. Raises ResizeRefused for a type that is
    not offered, is the current one, or has another GPU count."""
    vm = _locked_state(vm_id, {State.RUNNING, State.STOPPED}, State.STOPPING)
    new_type = InstanceType.objects.filter(pk=instance_type_id, active=True).first()
    if new_type is None:
        raise ResizeRefused(gettext("This instance type is not offered."))
    if new_type.pk == vm.instance_type_id:
        raise ResizeRefused(gettext("The VM already is a %(type)s.") % {"type": new_type.name})
    if new_type.gpu_count != vm.gpu_count:
        raise ResizeRefused(
            gettext("%(type)s has %(new)d GPU(s) and this VM %(old)d: a resize keeps the GPU count.")
            % {"type": new_type.name, "new": new_type.gpu_count, "old": vm.gpu_count}
        )
    old_name = vm.instance_type.name
    running = vm.state == State.RUNNING
    fields = {"instance_type_id": new_type.pk, "work_touched_at": timezone.now()}
    if running:
        vm = vm_transition(vm_id=vm_id, to_state=State.STOPPING, actor=actor, **fields)
    else:
        VirtualMachine.objects.filter(pk=vm_id).update(**fields)
    event_record(
        kind=Event.Kind.ACTION,
        vm=vm,
        actor=actor,
        message=N_("Resize from %(old)s to %(new)s"),
        data={"old": old_name, "new": new_type.name},
    )
    enqueue_on_commit(task_names.RESIZE_VM, vm_id=vm_id, start_after=running)
    return VirtualMachine.objects.get(pk=vm_id)


@transaction.atomic
def vm_delete(*, vm_id: int, actor) -> VirtualMachine:
    """Deletes the VM and its disks. A VM that never reached the cluster is deleted at once.
    A lease extension still waiting for approval is withdrawn with it."""
    state = VirtualMachine.objects.select_for_update().filter(pk=vm_id).values_list("state", flat=True).first()
    ChangeRequest.objects.filter(vm_id=vm_id, state=ChangeRequest.State.PENDING).update(
        state=ChangeRequest.State.WITHDRAWN
    )
    if state in REQUEST_STATES:
        return vm_transition(vm_id=vm_id, to_state=State.DELETED, actor=actor)
    return _work(vm_id, State.DELETING, task_names.DELETE_VM, actor=actor)


@transaction.atomic
def vm_retry(*, vm_id: int, actor) -> VirtualMachine:
    """Failed with a retryable error → back to the work that failed: deleting again if the
    deletion failed, otherwise provisioning, which re-creates whatever is missing and adopts
    whatever exists. A start, stop or deletion the cluster has not confirmed in time is asked
    for again, and its deadline starts over."""
    vm = _locked_state(vm_id, {State.FAILED, *AWAITED_TASKS}, State.PROVISIONING)
    if vm.state in AWAITED_TASKS:
        return _ask_again(vm, actor=actor)
    if not vm.failure_retryable:
        raise InvalidTransition(vm_id, State.PROVISIONING, vm.state)
    failed_from = (
        vm.events.filter(kind=Event.Kind.STATE)
        .exclude(data__state=State.FAILED)
        .order_by("-created_at", "-id")
        .values_list("data__state", flat=True)
        .first()
    )
    if failed_from == State.DELETING:
        return _work(
            vm_id, State.DELETING, task_names.DELETE_VM, actor=actor, failure_message="", failure_retryable=False
        )
    _require_lease(vm_id)
    return _work(
        vm_id, State.PROVISIONING, task_names.PROVISION_VM, actor=actor, failure_message="", failure_retryable=False
    )


def _ask_again(vm: VirtualMachine, *, actor) -> VirtualMachine:
    if not confirmation_overdue(vm):
        raise InvalidTransition(vm.pk, vm.state, vm.state)
    # Conditional on the instant read: of two clicks, the second finds the deadline restarted.
    now = timezone.now()
    if (
        VirtualMachine.objects.filter(pk=vm.pk, state=vm.state, state_changed_at=vm.state_changed_at).update(
            state_changed_at=now, work_touched_at=now
        )
        != 1
    ):
        raise InvalidTransition(vm.pk, vm.state, vm.state)
    event_record(
        kind=Event.Kind.ACTION, vm=vm, actor=actor, message=N_("Asked the cluster again: it had not confirmed in time")
    )
    enqueue_on_commit(AWAITED_TASKS[vm.state], vm_id=vm.pk)
    return VirtualMachine.objects.get(pk=vm.pk)


# The actions a button or an API call names, by the names ACTIONS_BY_STATE uses.
VM_ACTIONS = {
    "start": vm_start,
    "stop": vm_stop,
    "restart": vm_restart,
    "power_cycle": vm_power_cycle,
    "retry": vm_retry,
}
