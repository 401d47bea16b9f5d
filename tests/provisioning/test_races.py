"""Races and refusals the status sync must not have to clean up after."""

from tests.provisioning.helpers import new_vm
from vms import provisioning
from vms.cluster import ClusterError
from vms.models import VirtualMachine

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
    instance = gateway.get(provisioning.instance_kind(vm), vm.namespace, vm.name)
    assert instance["spec"]["runStrategy"] == "Halted"
    assert not vm.events.filter(kind="cluster").exists()


def test_a_retried_resize_that_already_moved_to_starting_still_starts(cluster, gateway, team, owner):
    vm = new_vm(team=team, owner=owner, name="resized", state="provisioning")
    provisioning.provision(vm_id=vm.pk, gateway=gateway)
    gateway.patch(provisioning.instance_kind(vm), vm.namespace, vm.name,
                  provisioning.power_patch(vm, running=False))
    VirtualMachine.objects.filter(pk=vm.pk).update(state=State.STARTING)  # where the failed attempt left it
    provisioning.resize(vm_id=vm.pk, gateway=gateway, start_after=True)
    instance = gateway.get(provisioning.instance_kind(vm), vm.namespace, vm.name)
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
