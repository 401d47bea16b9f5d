"""Plain helpers that create VM rows and requests for tests (no third-party factory library)."""

from datetime import timedelta
from itertools import count

from django.utils import timezone

from vms.governance import services
from vms.models import GpuModel, InstanceType, VirtualMachine
from vms.spec.request import VmSpec

_names = count(1)


def unsaved_vm(*, team, owner, instance_type: InstanceType, gpu_model: GpuModel, name=None, state="running", **fields):
    """A VM row not saved yet (for bulk_create), with the rows of its catalogue given."""
    return VirtualMachine(
        team=team,
        owner=owner,
        name=name or f"vm-{next(_names)}",
        instance_type=instance_type,
        gpu_model=gpu_model,
        gpu_count=instance_type.gpu_count,
        image="ubuntu",
        system_disk_gib=100,
        system_disk_class="replicated",
        state=state,
        **fields,
    )


def make_vm(*, team, owner, state="running", gpu="L40S", instance_type="g1.large", name=None, **fields):
    vm = unsaved_vm(
        team=team,
        owner=owner,
        instance_type=InstanceType.objects.get(name=instance_type),
        gpu_model=GpuModel.objects.get(slug=gpu),
        name=name,
        state=state,
        **fields,
    )
    vm.save()
    return vm


def spec(name="job", gpu="H100", instance_type="g8.4xlarge"):
    return VmSpec(
        name=name,
        team="ml-research",
        instance_type=instance_type,
        gpu_model=gpu,
        image="ubuntu",
        system_disk_gib=100,
        system_disk_class="replicated",
        justification="train",
    )


def request_vm(member, team, *, name="job", gpu="H100", instance_type="g8.4xlarge", lease_hours=48):
    return services.vm_request(
        actor=member,
        team=team,
        spec=spec(name, gpu, instance_type),
        gpu_model=GpuModel.objects.get(slug=gpu),
        instance_type=InstanceType.objects.get(name=instance_type),
        api_shape="current",
        lease_ends_at=None if lease_hours is None else timezone.now() + timedelta(hours=lease_hours),
    )
