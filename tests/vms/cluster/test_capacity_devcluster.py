"""Free GPUs read from the development cluster end to end (worker, sync, the real client over
HTTP): its Nodes' allocatable GPUs, and a `tenant-quota` whose `status.used` follows running VMs."""

from tests.vms.cluster.helpers import converge, new_vm
from vms.cluster import sync
from vms.cluster.gateway import NODE, RESOURCE_QUOTA
from vms.governance import lifecycle
from vms.governance.capacity import CapacityReading
from vms.models import GpuAllocation, GpuModel, TenantQuota, VirtualMachine

State = VirtualMachine.State


def free_h100(team):
    h100 = GpuModel.objects.get(slug="H100")
    return CapacityReading(team_ids=[team.pk]).free_gpus(team_id=team.pk, gpu_model_id=h100.pk)


def test_free_gpus_follow_the_nodes_of_the_development_cluster(worker, gateway, team, owner):
    assert len(gateway.list(NODE, None)) == 3
    h100 = GpuModel.objects.get(slug="H100")
    vm = new_vm(team=team, owner=owner, name="holder", gpu="H100", instance_type="g1.large")
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)
    row = GpuAllocation.objects.get(resource_name=h100.resource_name)
    assert (row.allocated, row.allocatable) == (1, 2)  # the provisioning tests' cluster has H100=2
    assert (free_h100(team).nodes_free, free_h100(team).estimate) == (1, False)


def test_free_gpus_follow_the_tenant_quota_of_the_development_cluster(worker, gateway, team, owner):
    assert gateway.list(RESOURCE_QUOTA, team.namespace, field_selector="metadata.name=tenant-quota")
    h100 = GpuModel.objects.get(slug="H100")
    sync.sync_cluster(gateway=gateway)
    before = TenantQuota.objects.get(team=team, resource_name=h100.resource_name)
    vm = new_vm(team=team, owner=owner, name="holder", gpu="H100", instance_type="g1.large")
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)
    quota = TenantQuota.objects.get(team=team, resource_name=h100.resource_name)
    assert (quota.hard, quota.used) == (before.hard, before.used + 1)
    assert free_h100(team).quota_left == max(quota.hard - quota.used, 0)

    lifecycle.vm_delete(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.DELETED)
    assert TenantQuota.objects.get(team=team, resource_name=h100.resource_name).used == before.used
