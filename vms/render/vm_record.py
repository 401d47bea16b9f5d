"""A recorded VM read back as the spec it was requested with, and the names of its objects."""

from vms.models import VirtualMachine
from vms.render.manifests import ObjectNames, object_names
from vms.spec.request import DiskSpec, VmSpec


def vm_spec(vm: VirtualMachine) -> VmSpec:
    return VmSpec(
        name=vm.name,
        team=vm.team.name,
        instance_type=vm.instance_type.name,
        gpu_model=vm.gpu_model.slug,
        image=vm.image,
        system_disk_gib=vm.system_disk_gib,
        system_disk_class=vm.system_disk_class,
        disks=tuple(
            DiskSpec(name=d["name"], size_gib=d["size_gib"], storage_class=d["storage_class"]) for d in vm.disks
        ),
        public_ports=tuple(vm.public_ports),
        ssh_keys=tuple(vm.ssh_keys),
        software=tuple(vm.software),
        cloud_config=vm.cloud_config,
        network=vm.network or None,
        justification=vm.justification,
    )


def vm_object_names(vm: VirtualMachine) -> ObjectNames:
    return object_names(vm_spec(vm), api_shape=vm.api_shape)
