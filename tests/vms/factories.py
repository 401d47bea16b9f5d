"""Plain helpers that create VM rows for tests (no third-party factory library)."""

from itertools import count

from vms.models import GpuModel, InstanceType, VirtualMachine

_names = count(1)


def make_vm(*, team, owner, state="running", gpu="L40S", instance_type="g1.large", name=None, **fields):
    it = InstanceType.objects.get(name=instance_type)
    return VirtualMachine.objects.create(
        team=team,
        owner=owner,
        name=name or f"vm-{next(_names)}",
        instance_type=it,
        gpu_model=GpuModel.objects.get(slug=gpu),
        gpu_count=it.gpu_count,
        image="ubuntu",
        system_disk_gib=100,
        system_disk_class="replicated",
        state=state,
        **fields,
    )
