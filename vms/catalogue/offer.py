"""The cluster's offer as validation and rendering see it: plain frozen data."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from vms.catalogue import seed


@dataclass(frozen=True)
class GpuModelInfo:
    slug: str
    resource_name: str
    needs_approval: bool
    memory_gb: int
    capacity: int
    price_per_gpu_hour: Decimal | None = None


@dataclass(frozen=True)
class InstanceTypeInfo:
    name: str
    vcpu: int
    ram_gib: int
    gpus: int


@dataclass(frozen=True)
class ImageInfo:
    slug: str
    profile: str
    default_user: str
    runs_software_blocks: bool


@dataclass(frozen=True)
class Limits:
    min_system_disk_gib: int
    min_disk_gib: int
    max_disk_gib: int
    max_disks: int
    max_ports: int
    max_ssh_keys: int
    max_cloud_config_bytes: int
    max_justification_chars: int


@dataclass(frozen=True)
class Catalogue:
    """What validation and rendering need to know about the cluster's offer."""

    gpu_models: Mapping[str, GpuModelInfo]
    instance_types: Mapping[str, InstanceTypeInfo]
    images: Mapping[str, ImageInfo]
    storage_classes: tuple[str, ...]
    networks: tuple[str, ...]
    software: tuple[str, ...]
    limits: Limits

    @classmethod
    def from_seed(cls, *, networks: tuple[str, ...] = ()) -> "Catalogue":
        return cls(
            gpu_models={
                gpu["slug"]: GpuModelInfo(
                    slug=gpu["slug"],
                    resource_name=gpu["resource_name"],
                    needs_approval=gpu["needs_approval"],
                    memory_gb=gpu["memory_gb"],
                    capacity=gpu["capacity"],
                    price_per_gpu_hour=gpu["price_per_gpu_hour"],
                )
                for gpu in seed.GPU_MODELS
            },
            instance_types={item["name"]: InstanceTypeInfo(**item) for item in seed.INSTANCE_TYPES},
            images={
                image["slug"]: ImageInfo(
                    slug=image["slug"],
                    profile=image["profile"],
                    default_user=image["default_user"],
                    runs_software_blocks=image["runs_software_blocks"],
                )
                for image in seed.IMAGES
            },
            storage_classes=tuple(item["name"] for item in seed.STORAGE_CLASSES),
            networks=networks,
            software=tuple(block["slug"] for block in seed.SOFTWARE_BLOCKS),
            limits=Limits(**seed.LIMITS),
        )


@dataclass(frozen=True)
class SpecDefaults:
    instance_type: str
    gpu_model: str
    image: str
    system_disk_gib: int
    system_disk_class: str
    disk_class: str
    public_ports: tuple[int, ...]
    software: tuple[str, ...]

    @classmethod
    def from_seed(cls) -> "SpecDefaults":
        defaults = seed.FORM_DEFAULTS
        return cls(
            instance_type=defaults["instance_type"],
            gpu_model=defaults["gpu_model"],
            image=defaults["image"],
            system_disk_gib=defaults["system_disk_gib"],
            system_disk_class=defaults["system_disk_class"],
            disk_class=defaults["disk_class"],
            public_ports=tuple(defaults["public_ports"]),
            software=tuple(defaults["software"]),
        )
