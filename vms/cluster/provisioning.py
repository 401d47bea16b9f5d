"""What the Celery tasks do to the cluster, one function per task.

Each function loads the VM, returns at once when the VM is no longer in the state its task
serves (someone moved it meanwhile: the task is stale), and converges the cluster towards what
the portal recorded. All of them are safe to run twice, or concurrently: a create answered
AlreadyExists adopts the object when its labels say it is this VM's, a delete answered 404
counts as done, and patches set absolute values. Cluster failures propagate as
`vms.cluster.gateway.ClusterError`; the task decides whether to retry or to call `vm_fail`.
"""

import random
import time

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from vms.catalogue.loading import catalogue_from_db
from vms.cluster.gateway import (
    DATA_VOLUME,
    KUBEVIRT_VM,
    VM_DISK,
    ClusterError,
    ClusterGateway,
    kind_of,
)
from vms.cluster.shapes import shape_of
from vms.errors import InvalidTransition
from vms.models import Event, VirtualMachine
from vms.render.manifests import (
    CHART_INSTANCE_LABEL,
    LABEL_VM_ID,
    ObjectNames,
    render_manifests,
    rendered_for,
)
from vms.render.vm_record import vm_object_names, vm_spec
from vms.transitions import event_record, vm_transition

State = VirtualMachine.State
# How often a long wait records that its task is alive (see VirtualMachine.work_touched_at).
TOUCH_EVERY_SECONDS = 5.0
HELM_FAILURE_REASONS = {"InstallFailed", "UpgradeFailed"}
# The vm-instance chart refuses to render while a disk it lists has no DataVolume yet; Flux
# renders it again later, so this failure passes once the disk exists.
RELEASE_WAITS_FOR_DISK = "Specified disk not exists in cluster"


def backoff_seconds(attempt: int) -> float:
    """Delay before retry number `attempt` (0-based): exponential, capped, with jitter so that
    VMs failing together do not retry together."""
    ceiling = min(settings.CLUSTER_RETRY_MAX_SECONDS, settings.CLUSTER_RETRY_BASE_SECONDS * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def work_touch(vm_id: int) -> None:
    VirtualMachine.objects.filter(pk=vm_id).update(work_touched_at=timezone.now())


def _load(vm_id: int) -> VirtualMachine | None:
    return VirtualMachine.objects.select_related("team", "instance_type", "gpu_model").filter(pk=vm_id).first()


def _state(vm_id: int) -> str | None:
    return VirtualMachine.objects.filter(pk=vm_id).values_list("state", flat=True).first()


def _selector(vm: VirtualMachine) -> str:
    return f"{LABEL_VM_ID}={vm.pk}"


def _wait(vm: VirtualMachine, serving: set[str], predicate, what: str) -> bool:
    """Polls `predicate` until it holds (True) or the VM left the `serving` states (False).

    Gives up with a retryable error after CLUSTER_WAIT_SECONDS: the task then retries later
    instead of holding a worker for as long as the cluster takes."""
    started = last_touch = time.monotonic()
    interval = 0.05
    while True:
        if _state(vm.pk) not in serving:
            return False
        if predicate():
            return True
        now = time.monotonic()
        if now - started > settings.CLUSTER_WAIT_SECONDS:
            raise ClusterError(f"Still waiting for {what} after {settings.CLUSTER_WAIT_SECONDS:g} s.", retryable=True)
        if now - last_touch > TOUCH_EVERY_SECONDS:
            work_touch(vm.pk)
            last_touch = now
        time.sleep(interval)
        interval = min(1.0, interval * 2)


def helm_failure(obj: dict) -> str:
    """The chart's error when Cozystack could not render the app (retrying will not help),
    except a wait for a disk, which Flux's next reconcile clears by itself."""
    message = release_failure(obj)
    return "" if RELEASE_WAITS_FOR_DISK in message else message


def release_failure(obj: dict) -> str:
    """The chart's error when Cozystack could not render the app, whatever its cause."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "Ready"
            and condition.get("status") == "False"
            and condition.get("reason") in HELM_FAILURE_REASONS
        ):
            return condition.get("message") or condition["reason"]
    return ""


def _ensure(gateway: ClusterGateway, vm: VirtualMachine, desired: dict, *, update_spec: bool) -> dict:
    """Creates `desired`, or adopts the object of that name when it is this VM's."""
    kind, metadata = kind_of(desired), desired["metadata"]
    try:
        return gateway.create(desired)
    except ClusterError as exc:
        if not exc.already_exists:
            raise
    existing = gateway.get(kind, metadata["namespace"], metadata["name"])
    if existing is None:
        raise ClusterError(f'{kind.kind} "{metadata["name"]}" vanished while being adopted.', retryable=True)
    # On its way out, whoever it belonged to (a deleted VM of the same name): in the way only
    # until the cluster finishes deleting it.
    if existing["metadata"].get("deletionTimestamp"):
        raise ClusterError(f'{kind.kind} "{metadata["name"]}" is still being deleted.', retryable=True)
    if (existing["metadata"].get("labels") or {}).get(LABEL_VM_ID) != str(vm.pk):
        raise ClusterError(
            f'A {kind.kind} named "{metadata["name"]}" already exists in {metadata["namespace"]} and does not '
            "belong to this VM. Rename the VM, or ask an administrator to remove that object.",
            retryable=False,
        )
    if update_spec and _patch_changes(existing.get("spec") or {}, desired["spec"]):
        return gateway.patch(kind, metadata["namespace"], metadata["name"], {"spec": desired["spec"]})
    return existing


def _patch_changes(current, patch) -> bool:
    """Whether merge-patching `current` with `patch` changes anything. The API server fills the
    schema's defaults into what it stores, so the stored spec has keys the rendered one leaves out."""
    if not isinstance(patch, dict) or not isinstance(current, dict):
        return current != patch
    return any(key not in current or _patch_changes(current[key], value) for key, value in patch.items())


def _disks_ready(gateway: ClusterGateway, vm: VirtualMachine, names: ObjectNames) -> bool:
    """True once every disk's DataVolume exists: the instance chart refuses to render before."""
    vmdisks = {
        disk["metadata"]["name"]: disk for disk in gateway.list(VM_DISK, vm.namespace, label_selector=_selector(vm))
    }
    for disk in vmdisks.values():
        failure = helm_failure(disk)
        if failure:
            raise ClusterError(failure, retryable=False, reason="HelmFailed")
    vmdisk_of = {disk.data_volume: disk.vmdisk for disk in names.disks}
    selector = f"{CHART_INSTANCE_LABEL} in ({','.join(sorted(vmdisk_of))})"
    present = {
        dv["metadata"]["name"]
        for dv in gateway.list(DATA_VOLUME, vm.namespace, label_selector=selector)
        if rendered_for(dv, vmdisks.get(vmdisk_of.get(dv["metadata"]["name"])))
    }
    return present >= set(vmdisk_of)


def _converge(gateway: ClusterGateway, vm: VirtualMachine, serving: set[str]) -> bool:
    """Makes every object of the VM exist, as rendered now, running. False if the VM left
    `serving` on the way (someone stopped or deleted it)."""
    objects = render_manifests(
        vm_spec(vm),
        catalogue=catalogue_from_db(offered_only=False),
        namespace=vm.namespace,
        vm_id=vm.pk,
        api_shape=vm.api_shape,
        running=True,
    )
    *disks, instance = objects
    for disk in disks:
        # A disk's spec is never rewritten: resizing or re-imaging a disk is not this task's job.
        _ensure(gateway, vm, disk, update_spec=False)
        if _undone_after_deletion(gateway, vm, disk):
            return False
    if disks and not _wait(
        vm, serving, lambda: _disks_ready(gateway, vm, vm_object_names(vm)), "the disks' DataVolumes"
    ):
        return False
    if _state(vm.pk) not in serving:
        return False
    _ensure(gateway, vm, instance, update_spec=True)
    if _undone_after_deletion(gateway, vm, instance):
        return False
    if _state(vm.pk) not in serving:
        # Stopped while the instance was being written (a stop that found nothing to halt, or
        # an expired lease): halt what this task just started, so the cluster matches the portal.
        gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, shape_of(vm).power_patch(running=False))
        return False
    return True


def _undone_after_deletion(gateway: ClusterGateway, vm: VirtualMachine, written: dict) -> bool:
    """Deletes `written` again if the VM was deleted while this task wrote it, and says so.

    The deletion task may have made its last LIST before `written` existed and called the VM
    deleted; the state is read after the write, so one of the two tasks always sees the object.
    Left behind, a disk keeps its storage and makes a later VM of the same name fail for good."""
    if _state(vm.pk) not in (State.DELETING, State.DELETED, None):
        return False
    metadata = written["metadata"]
    gateway.delete(kind_of(written), metadata["namespace"], metadata["name"])
    return True


def provision(*, vm_id: int, gateway: ClusterGateway) -> None:
    """Creates the disks, waits until their DataVolumes exist, then creates the instance. The
    status sync takes the VM to Running once KubeVirt says so."""
    vm = _load(vm_id)
    if vm is None or vm.state != State.PROVISIONING:
        return
    work_touch(vm_id)
    if settings.CLUSTER_CREATE_NAMESPACES:
        gateway.namespace_ensure(vm.namespace)
    if (
        _converge(gateway, vm, {State.PROVISIONING})
        and not vm.events.filter(kind=Event.Kind.CLUSTER, data__namespace=vm.namespace).exists()
    ):
        # Re-deliveries and re-enqueues converge again; the timeline says it once.
        event_record(
            kind=Event.Kind.CLUSTER,
            vm=vm,
            message=N_("Created the VM's objects in %(namespace)s"),
            data={"namespace": vm.namespace},
        )


def start(*, vm_id: int, gateway: ClusterGateway) -> None:
    """Sets the instance running, re-creating whatever is missing (a VM stopped before its
    instance existed has none)."""
    vm = _load(vm_id)
    if vm is None or vm.state != State.STARTING:
        return
    work_touch(vm_id)
    _converge(gateway, vm, {State.STARTING})


def stop(*, vm_id: int, gateway: ClusterGateway) -> None:
    vm = _load(vm_id)
    if vm is None or vm.state != State.STOPPING:
        return
    work_touch(vm_id)
    try:
        gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, shape_of(vm).power_patch(running=False))
    except ClusterError as exc:
        if not exc.not_found:
            raise
        # Stopped while provisioning, before the instance existed: nothing runs, nothing to wait for.
        _transition_if(vm_id, State.STOPPED, State.STOPPING)


def restart(*, vm_id: int, gateway: ClusterGateway) -> None:
    vm = _load(vm_id)
    # No restart waiting: this delivery repeats one the cluster already took.
    if vm is None or vm.state != State.RUNNING or vm.restart_requested_at is None:
        return
    gateway.restart(vm.namespace, vm_object_names(vm).kubevirt_vm)
    _restart_done(vm_id)


def _restart_done(vm_id: int) -> None:
    VirtualMachine.objects.filter(pk=vm_id).update(restart_requested_at=None)


def resize(*, vm_id: int, gateway: ClusterGateway, start_after: bool) -> None:
    """Applies the instance type the portal recorded. KubeVirt only applies a new instance type
    at boot, so a running VM is stopped first (`start_after`) and started again afterwards."""
    vm = _load(vm_id)
    if vm is None:
        return
    patch = {"spec": {"instanceType": vm.instance_type.name}}
    if not start_after:
        if vm.state == State.STOPPED:
            gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, patch)
        return
    _stop_then_start(gateway, vm, patch)


def power_cycle(*, vm_id: int, gateway: ClusterGateway) -> None:
    """A restart made of a stop and a start, for clusters that refuse KubeVirt's restart."""
    vm = _load(vm_id)
    if vm is None:
        return
    _stop_then_start(gateway, vm, {"spec": {}})


def _stop_then_start(gateway: ClusterGateway, vm: VirtualMachine, patch: dict) -> None:
    """Halts the instance along with `patch`, waits until KubeVirt says it stopped, starts it
    again. Resumes where a previous attempt stopped (stopping, stopped or starting)."""
    if vm.state == State.STOPPING:
        work_touch(vm.pk)
        halt = {"spec": {**patch["spec"], **shape_of(vm).power_patch(running=False)["spec"]}}
        gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, halt)
        kubevirt_vm = vm_object_names(vm).kubevirt_vm
        if not _wait(
            vm,
            {State.STOPPING, State.STOPPED},
            lambda: _printable_status(gateway, vm, kubevirt_vm) in ("Stopped", None),
            "the VM to stop",
        ):
            return
        _transition_if(vm.pk, State.STOPPED, State.STOPPING)
    # A retry finds the VM already STARTING when only the start patch failed last time.
    if _transition_if(vm.pk, State.STARTING, State.STOPPED) or _state(vm.pk) == State.STARTING:
        gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, shape_of(vm).power_patch(running=True))


def _printable_status(gateway: ClusterGateway, vm: VirtualMachine, kubevirt_vm: str) -> str | None:
    obj = gateway.get(KUBEVIRT_VM, vm.namespace, kubevirt_vm)
    return None if obj is None else (obj.get("status") or {}).get("printableStatus", "")


def delete(*, vm_id: int, gateway: ClusterGateway) -> None:
    """Deletes the instance, then the disks, and waits until all of them are gone."""
    vm = _load(vm_id)
    if vm is None or vm.state != State.DELETING:
        return
    work_touch(vm_id)

    def gone() -> bool:
        remaining = False
        for kind in shape_of(vm).apps:
            for obj in gateway.list(kind, vm.namespace, label_selector=_selector(vm)):
                remaining = True
                # Asked again each round: a provisioning task racing with this one may have
                # created an object after the first request.
                if not obj["metadata"].get("deletionTimestamp"):
                    gateway.delete(kind, vm.namespace, obj["metadata"]["name"])
        return not remaining

    if _wait(vm, {State.DELETING}, gone, "the VM's objects to be deleted"):
        _transition_if(
            vm_id, State.DELETED, State.DELETING, cluster_status="", external_ip=None, status_message="", disk_status={}
        )


def _transition_if(vm_id: int, to_state: str, from_state: str, **fields) -> bool:
    """Moves the VM if it is (still) in `from_state`; False when another actor moved it first."""
    if _state(vm_id) != from_state:
        return False
    try:
        vm_transition(vm_id=vm_id, to_state=to_state, **fields)
    except InvalidTransition:
        return False
    return True


# The states each operation works in: a failure only fails the VM while it is still in one of
# them, so a stale task cannot fail a VM that its owner has since deleted or stopped.
SERVED_STATES = {
    provision: {State.PROVISIONING},
    start: {State.STARTING},
    stop: {State.STOPPING},
    restart: {State.RUNNING},
    power_cycle: {State.STOPPING, State.STOPPED, State.STARTING},
    resize: {State.STOPPING, State.STOPPED, State.STARTING},
    delete: {State.DELETING},
}
# KubeVirt's restart lives in its aggregated API (subresources.kubevirt.io): a cluster that does
# not serve it to the portal answers 404, one whose RBAC does not grant it 403.
RESTART_UNAVAILABLE_STATUSES = {403, 404}


def vm_fail(*, vm_id: int, operation, error: ClusterError, attempts: int) -> None:
    """Gives up on the VM's current work, in the cluster's words. A VM in a state that cannot
    fail (a stopped VM whose resize was refused) keeps its state and gets an event instead."""
    vm = _load(vm_id)
    if vm is None or vm.state not in SERVED_STATES[operation]:
        return
    if operation is restart:
        _restart_done(vm_id)  # refused for good: the owner may ask again
    if operation is restart and error.status in RESTART_UNAVAILABLE_STATUSES:
        event_record(
            kind=Event.Kind.CLUSTER,
            vm=vm,
            reason=error.message,
            message=N_(
                "The cluster refused the restart (HTTP %(status)d): it does not let the portal use "
                "KubeVirt's restart. Stop and start the VM instead."
            ),
            data={"status": error.status, "restart": "refused"},
        )
        return
    # A refused reboot, or a refused resize of a stopped VM, leaves the VM as it was: worth an
    # event, not a failed VM.
    keeps_state = operation is restart or (operation is resize and vm.state == State.STOPPED)
    if not keeps_state:
        try:
            vm_transition(
                vm_id=vm_id,
                to_state=State.FAILED,
                reason=error.message,
                failure_message=error.message,
                failure_retryable=error.retryable,
            )
            return
        except InvalidTransition:
            pass  # moved meanwhile: the event below keeps the cluster's words
    event_record(
        kind=Event.Kind.CLUSTER,
        vm=vm,
        reason=error.message,
        message=N_("The cluster refused the change after %(attempts)d attempt(s): %(error)s"),
        data={"attempts": attempts, "error": error.message},
    )
