"""What the simulated charts and nodes know: instance types, profiles, GPU models."""

from dataclasses import dataclass

_SIZES = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge")
# The portal's GPU series (from the seed), Cozystack's upstream common-instancetypes, and the
# deprecated gn1 series Cozystack still ships for existing GPU VMs.
INSTANCE_TYPES = frozenset(
    [
        "g1.medium",
        "g1.large",
        "g1.xlarge",
        "g1.2xlarge",
        "g1.4xlarge",
        "g2.large",
        "g2.xlarge",
        "g2.2xlarge",
        "g2.4xlarge",
        "g4.xlarge",
        "g4.2xlarge",
        "g4.4xlarge",
        "g4.8xlarge",
        "g8.2xlarge",
        "g8.4xlarge",
        "g8.8xlarge",
        "u1.nano",
        "u1.micro",
        "u1.small",
        "u1.2xmedium",
        "gn1.xlarge",
        "gn1.2xlarge",
        "gn1.4xlarge",
        "gn1.8xlarge",
    ]
    + [f"{series}.{size}" for series in ("u1", "o1", "cx1", "m1") for size in _SIZES]
)

# The preferences the Cozystack chart enumerates (virtual-machine values.schema.json).
INSTANCE_PROFILES = frozenset(
    [
        "alpine",
        "centos.7",
        "centos.7.desktop",
        "centos.stream10",
        "centos.stream10.desktop",
        "centos.stream8",
        "centos.stream8.desktop",
        "centos.stream8.dpdk",
        "centos.stream9",
        "centos.stream9.desktop",
        "centos.stream9.dpdk",
        "cirros",
        "fedora",
        "fedora.arm64",
        "opensuse.leap",
        "opensuse.tumbleweed",
        "rhel.10",
        "rhel.10.arm64",
        "rhel.7",
        "rhel.7.desktop",
        "rhel.8",
        "rhel.8.desktop",
        "rhel.8.dpdk",
        "rhel.9",
        "rhel.9.arm64",
        "rhel.9.desktop",
        "rhel.9.dpdk",
        "rhel.9.realtime",
        "sles",
        "ubuntu",
        "windows.10",
        "windows.10.virtio",
        "windows.11",
        "windows.11.virtio",
        "windows.2k16",
        "windows.2k16.virtio",
        "windows.2k19",
        "windows.2k19.virtio",
        "windows.2k22",
        "windows.2k22.virtio",
        "windows.2k25",
        "windows.2k25.virtio",
    ]
)


@dataclass(frozen=True)
class GpuModel:
    slug: str
    resource_name: str
    model_name: str
    memory_mib: int
    max_power_w: float
    idle_power_w: float
    max_sm_clock_mhz: int
    idle_sm_clock_mhz: int
    memory_clock_mhz: int


GPU_MODELS = (
    GpuModel("L40S", "nvidia.com/AD102GL_L40S", "NVIDIA L40S", 46068, 350, 35, 2520, 210, 9001),
    GpuModel("A100", "nvidia.com/GA100_A100_PCIE_80GB", "NVIDIA A100 80GB PCIe", 81920, 300, 45, 1410, 210, 1512),
    GpuModel("H100", "nvidia.com/H100_94GB", "NVIDIA H100 NVL", 95830, 400, 60, 1785, 345, 2619),
)
GPU_MODELS_BY_RESOURCE = {model.resource_name: model for model in GPU_MODELS}
# Resource names nobody mapped still get telemetry, labelled with the resource name itself.
_UNKNOWN_MODEL = GpuModel("", "", "", 24576, 250, 30, 1500, 200, 1500)


def gpu_model(resource_name: str) -> GpuModel:
    model = GPU_MODELS_BY_RESOURCE.get(resource_name)
    if model is None:
        return GpuModel(
            resource_name,
            resource_name,
            f"NVIDIA {resource_name.split('/')[-1]}",
            *[
                getattr(_UNKNOWN_MODEL, field)
                for field in (
                    "memory_mib",
                    "max_power_w",
                    "idle_power_w",
                    "max_sm_clock_mhz",
                    "idle_sm_clock_mhz",
                    "memory_clock_mhz",
                )
            ],
        )
    return model


def parse_gpu_inventory(text: str) -> dict[str, int]:
    """`H100=4,A100=8` or full resource names (`nvidia.com/H100_94GB=4`) -> {resource name: count}."""
    slugs = {model.slug.lower(): model.resource_name for model in GPU_MODELS}
    inventory: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, separator, count = entry.partition("=")
        if not separator or not count.strip().isdecimal():
            raise ValueError(f"GPU inventory entry {entry!r} is not NAME=COUNT")
        resource = slugs.get(name.strip().lower(), name.strip())
        if "/" not in resource:
            raise ValueError(
                f"unknown GPU model {name!r}: use L40S, A100, H100 or a resource name like nvidia.com/GA102GL_A10"
            )
        inventory[resource] = inventory.get(resource, 0) + int(count)
    return inventory
