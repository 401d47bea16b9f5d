"""A GPU VM request as data: the spec every path ends in, its names and limits."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

API_SHAPE_CURRENT = "current"
API_SHAPE_LEGACY = "legacy"
API_SHAPES = (API_SHAPE_CURRENT, API_SHAPE_LEGACY)

MAX_VM_NAME_LENGTH = 41
# The 0.x VirtualMachine CRD's CEL rule: its release `virtual-machine-N` has a longer prefix.
MAX_LEGACY_VM_NAME_LENGTH = 37
MAX_VMDISK_NAME_LENGTH = 45
SYSTEM_DISK_NAME = "os"

# The `systemDisk.image` enum of the legacy 0.x schema (tests compare it with the copy).
LEGACY_SYSTEM_IMAGES = ("ubuntu", "cirros", "alpine", "fedora", "talos")

DCGM_EXPORTER_BLOCK = "dcgm-exporter"
SSH_PORT = 22
RECOMMENDED_VCPU_PER_GPU = (8, 16)
RECOMMENDED_MIN_RAM_GIB_PER_GPU = 32
MIN_RSA_KEY_BITS = 2048

NON_FIELD_ERRORS = "__all__"

_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_INSTANCE_SERIES = re.compile(r"g(?P<gpus>[0-9]+)\.")


def add_error(errors: dict[str, list[str]], path: str, message: str) -> None:
    """Record `message` against `path` (a field or a document key) in an errors mapping."""
    errors.setdefault(path, []).append(message)


def disk_object_name(vm_name: str, disk_name: str) -> str:
    """Name of the VMDisk holding disk `disk_name` of VM `vm_name`."""
    return f"{vm_name}-{disk_name}"


@dataclass(frozen=True)
class DiskSpec:
    name: str
    size_gib: int
    storage_class: str


@dataclass(frozen=True)
class VmSpec:
    name: str
    team: str
    instance_type: str
    gpu_model: str
    image: str
    system_disk_gib: int
    system_disk_class: str
    disks: tuple[DiskSpec, ...] = ()
    public_ports: tuple[int, ...] = ()
    ssh_keys: tuple[str, ...] = ()
    software: tuple[str, ...] = ()
    cloud_config: str = ""
    network: str | None = None
    justification: str = ""


def preset_spec(
    preset: Mapping,
    *,
    team: str,
    name: str | None = None,
    image: str = "ubuntu",
    ssh_keys: tuple[str, ...] = (),
    justification: str = "",
) -> VmSpec:
    """A request pre-filled from one of `seed.PRESETS`, named after it unless `name` is given."""
    extra_config = preset["cloud_config"]
    return VmSpec(
        name=preset["suggested_name"] if name is None else name,
        team=team,
        instance_type=preset["instance_type"],
        gpu_model=preset["gpu_model"],
        image=image,
        system_disk_gib=preset["system_disk_gib"],
        system_disk_class=preset["system_disk_class"],
        disks=tuple(DiskSpec(**disk) for disk in preset["disks"]),
        public_ports=tuple(preset["public_ports"]),
        ssh_keys=ssh_keys,
        software=tuple(preset["software"]),
        cloud_config=yaml.safe_dump(extra_config, sort_keys=False) if extra_config else "",
        justification=justification,
    )
