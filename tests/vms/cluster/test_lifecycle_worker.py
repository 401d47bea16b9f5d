"""Every task against the development cluster over HTTP, run by a real Celery worker."""

import time

import pytest

from tests.vms.cluster.helpers import cluster_objects, converge, new_vm, timeline
from vms.cluster.gateway import EVENT
from vms.cluster.shapes import shape_of
from vms.governance import lifecycle
from vms.models import InstanceType, VirtualMachine

State = VirtualMachine.State


@pytest.mark.parametrize("api_shape", ["current", "legacy"])
def test_full_lifecycle_from_request_to_deleted(worker, gateway, team, owner, api_shape):
    vm = new_vm(team=team, owner=owner, api_shape=api_shape)

    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.RUNNING)
    assert vm.cluster_status == "Running"
    assert vm.external_ip.startswith("203.0.113.")
    assert "Running — reachable over SSH" in timeline(vm)
    assert vm.external_ip not in timeline(vm)  # revealed on request only, and audited
    assert all(status["phase"] == "Succeeded" for status in vm.disk_status.values())
    expected_disks = {"os", "data"} if api_shape == "current" else {"os"}
    assert set(vm.disk_status) == expected_disks
    apps = [kind for kind, _ in cluster_objects(gateway, "tenant-alpha", vm.pk)]
    assert apps.count("VirtualMachine") == 1 + (api_shape == "legacy")
    assert lifecycle.available_actions(vm) == {"stop", "restart", "power_cycle", "resize", "delete"}

    lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.STOPPED)
    assert vm.cluster_status == "Stopped"

    lifecycle.vm_start(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)

    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    # The reboot must reach KubeVirt, not only the timeline: its controller says so in an event.
    deadline = time.monotonic() + 20
    while not any("for a restart" in (event.get("message") or "") for event in gateway.list(EVENT, "tenant-alpha")):
        assert time.monotonic() < deadline, "the restart never reached the cluster"
        time.sleep(0.1)
    vm = converge(gateway, vm.pk, State.RUNNING)
    assert "Restart requested" in timeline(vm)

    bigger = InstanceType.objects.get(name="g1.xlarge")
    lifecycle.vm_resize(vm_id=vm.pk, actor=owner, instance_type_id=bigger.pk)
    vm = converge(gateway, vm.pk, State.RUNNING)
    assert gateway.get(shape_of(vm).instance, "tenant-alpha", vm.name)["spec"]["instanceType"] == "g1.xlarge"
    states = [event.data.get("state") for event in vm.events.order_by("created_at", "id") if event.kind == "state"]
    assert states[-4:] == ["stopping", "stopped", "starting", "running"]

    lifecycle.vm_delete(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.DELETED)
    assert cluster_objects(gateway, "tenant-alpha") == []
    assert vm.external_ip is None
