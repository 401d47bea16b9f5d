"""Races and refusals the status sync must not have to clean up after."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.support.processes import wait_until
from tests.vms.cluster.helpers import new_vm
from vms import transitions
from vms.cluster import provisioning
from vms.cluster.gateway import ClusterError
from vms.cluster.shapes import shape_of
from vms.errors import InvalidTransition
from vms.governance import lifecycle, services
from vms.models import ChangeRequest, VirtualMachine
from vms.render.manifests import LABEL_VM_ID

State = VirtualMachine.State


class StopDuringInstanceCreate:
    """The real gateway, except that the VM is stopped by its owner just as its instance is written."""

    def __init__(self, gateway, vm_id):
        self.gateway, self.vm_id = gateway, vm_id

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def create(self, obj):
        if obj["kind"] == "VMInstance":
            VirtualMachine.objects.filter(pk=self.vm_id).update(state=State.STOPPED)
        return self.gateway.create(obj)


def test_a_vm_stopped_while_its_instance_is_written_is_left_halted(cluster, gateway, team, owner):
    vm = new_vm(team=team, owner=owner, name="raced", state="provisioning")
    provisioning.provision(vm_id=vm.pk, gateway=StopDuringInstanceCreate(gateway, vm.pk))
    instance = gateway.get(shape_of(vm).instance, vm.namespace, vm.name)
    assert instance["spec"]["runStrategy"] == "Halted"
    assert not vm.events.filter(kind="cluster").exists()


def test_a_retried_resize_that_already_moved_to_starting_still_starts(cluster, gateway, team, owner):
    vm = new_vm(team=team, owner=owner, name="resized", state="provisioning")
    provisioning.provision(vm_id=vm.pk, gateway=gateway)
    gateway.patch(shape_of(vm).instance, vm.namespace, vm.name, shape_of(vm).power_patch(running=False))
    VirtualMachine.objects.filter(pk=vm.pk).update(state=State.STARTING)  # where the failed attempt left it
    provisioning.resize(vm_id=vm.pk, gateway=gateway, start_after=True)
    instance = gateway.get(shape_of(vm).instance, vm.namespace, vm.name)
    assert instance["spec"]["runStrategy"] == "Always"


def test_a_refused_reboot_or_resize_of_a_stopped_vm_does_not_fail_it(transactional_db, team, owner):
    refused = ClusterError("the VM is not running", retryable=True, status=409)
    running = new_vm(team=team, owner=owner, name="rebooted", state="running")
    provisioning.vm_fail(vm_id=running.pk, operation=provisioning.restart, error=refused, attempts=6)
    stopped = new_vm(team=team, owner=owner, name="resized", state="stopped")
    provisioning.vm_fail(vm_id=stopped.pk, operation=provisioning.resize, error=refused, attempts=6)
    assert VirtualMachine.objects.get(pk=running.pk).state == State.RUNNING
    assert VirtualMachine.objects.get(pk=stopped.pk).state == State.STOPPED
    for vm in (running, stopped):
        assert vm.events.get(kind="cluster").reason == "the VM is not running"
    provisioning.vm_fail(vm_id=running.pk, operation=provisioning.provision, error=refused, attempts=6)
    assert VirtualMachine.objects.get(pk=running.pk).state == State.RUNNING  # not the operation it serves


# --- Issue 12, finding 6 ----------------------------------------------------------------------


class DeleteDuringDiskCreate:
    """The real gateway, except that just before the first VMDisk is written, the owner deletes
    the VM and the deletion task runs to the end: it finds nothing, and calls the VM deleted. The
    create then lands, as a request already in flight would."""

    def __init__(self, gateway, vm_id, owner):
        self.gateway, self.vm_id, self.owner, self.fired = gateway, vm_id, owner, False

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def create(self, obj):
        if obj["kind"] == "VMDisk" and not self.fired:
            self.fired = True
            lifecycle.vm_delete(vm_id=self.vm_id, actor=self.owner)
            provisioning.delete(vm_id=self.vm_id, gateway=self.gateway)
            assert VirtualMachine.objects.get(pk=self.vm_id).state == State.DELETED
        return self.gateway.create(obj)


def objects_of(gateway, vm) -> list[str]:
    return [
        obj["metadata"]["name"]
        for kind in shape_of(vm).apps
        for obj in gateway.list(kind, vm.namespace, label_selector=f"{LABEL_VM_ID}={vm.pk}")
        if not obj["metadata"].get("deletionTimestamp")
    ]


def test_a_vm_deleted_while_its_provisioning_runs_leaves_nothing_on_the_cluster(cluster, gateway, team, owner):
    vm = new_vm(team=team, owner=owner, name="short-lived", state="provisioning")
    provisioning.provision(vm_id=vm.pk, gateway=DeleteDuringDiskCreate(gateway, vm.pk, owner))
    assert VirtualMachine.objects.get(pk=vm.pk).state == State.DELETED
    assert objects_of(gateway, vm) == []

    # A later VM of the same name provisions: no leftover disk is in its way. While the first
    # one's disk is still terminating (the cluster takes its time under load), that is worth a
    # retry, not a failure.
    again = new_vm(team=team, owner=owner, name="short-lived", state="provisioning")

    def provisioned() -> bool:
        try:
            provisioning.provision(vm_id=again.pk, gateway=gateway)
        except ClusterError as error:
            assert error.retryable, error
            return False
        return True

    wait_until(provisioned, timeout=30, interval=0.5, message="the second VM to provision")
    assert len(objects_of(gateway, again)) == 1 + len(again.disks) + 1  # system disk, data disk, instance


class CountingRestarts:
    def __init__(self, gateway):
        self.gateway, self.restarts = gateway, 0

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def restart(self, namespace, kubevirt_vm):
        self.restarts += 1


def test_one_click_delivers_one_restart(transactional_db, team, owner, gateway, settings, monkeypatch):
    sent = []
    monkeypatch.setattr(transitions.celery_app, "send_task", lambda name, kwargs: sent.append(name))
    vm = new_vm(team=team, owner=owner, name="rebooted", state="running")
    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    with pytest.raises(InvalidTransition):  # the double click
        lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    assert sent == ["vms.tasks.restart_vm"]
    assert vm.events.filter(data__restart="requested").count() == 1

    counting = CountingRestarts(gateway)
    provisioning.restart(vm_id=vm.pk, gateway=counting)
    provisioning.restart(vm_id=vm.pk, gateway=counting)  # a re-delivery of the same task
    assert counting.restarts == 1

    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)  # delivered: the next click restarts again
    assert sent == ["vms.tasks.restart_vm"] * 2


def test_a_restart_lost_or_refused_does_not_block_the_next_one(transactional_db, team, owner, settings):
    vm = new_vm(team=team, owner=owner, name="rebooted", state="running")
    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    provisioning.vm_fail(
        vm_id=vm.pk,
        operation=provisioning.restart,
        attempts=1,
        error=ClusterError("forbidden", retryable=False, status=403),
    )
    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)  # refused by the cluster: may be asked again

    VirtualMachine.objects.filter(pk=vm.pk).update(
        restart_requested_at=timezone.now() - timedelta(seconds=settings.CLUSTER_WORK_STALE_SECONDS + 1)
    )
    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)  # lost with its task: may be asked again
    assert vm.events.filter(data__restart="requested").count() == 3


def test_a_lease_extension_waits_for_a_deletion_in_progress(transactional_db, team, owner):
    """lease_extend locks the VM row before it reads the state: an extension asked while a
    deletion is being committed sees the deletion and is refused, instead of leaving a pending
    extension behind on a VM on its way out."""
    vm = new_vm(
        team=team,
        owner=owner,
        name="leased",
        state="running",
        gpu="H100",
        lease_ends_at=timezone.now() + timedelta(days=1),
    )
    deleting, outcome = threading.Event(), {}

    def delete():
        try:
            with transaction.atomic():
                lifecycle.vm_delete(vm_id=vm.pk, actor=owner)  # holds the row lock until commit
                deleting.set()
                time.sleep(0.5)
        finally:
            connection.close()

    def extend():
        deleting.wait(10)
        try:
            services.lease_extend(vm_id=vm.pk, actor=owner, lease_ends_at=timezone.now() + timedelta(days=5))
            outcome["result"] = "extension recorded"
        except InvalidTransition:
            outcome["result"] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=delete), threading.Thread(target=extend)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome["result"] == "refused"
    assert not ChangeRequest.objects.filter(vm=vm, state=ChangeRequest.State.PENDING).exists()
