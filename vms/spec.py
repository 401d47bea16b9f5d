"""What a GPU VM request is, and whether it is acceptable: pure data and rules, no database.

The request form and `manage.py vm_manifest` both end in a `VmSpec`. The form builds it from
its cleaned data; the command builds it from a YAML document with `parse_spec_document`. Either
way `validate_spec` then applies every rule the portal knows without a database. The caller
still checks what needs one: that the team exists and the user belongs to it, and that no other
VM of the team has the same name.

Naming of derived objects (see `vms.manifests.object_names`): a VM named N is a `VMInstance` N
whose KubeVirt VirtualMachine and Service are `vm-instance-N`; its system disk is the `VMDisk`
`N-os` and an additional disk D is the `VMDisk` `N-D`, whose DataVolumes are `vm-disk-N-os` and
`vm-disk-N-D`. Cozystack allows 41 characters for a VM name and 45 for a disk, so the rules
below require N to be at most 41 characters and `N-D` at most 45 (a 41-character VM name leaves
room for the system disk's `-os` suffix but only three characters for other disk names). The
legacy 0.x `VirtualMachine` N has one disk, and its KubeVirt VirtualMachine, DataVolume and
Service are all `virtual-machine-N`; its CRD allows 37 characters for N.

Spec document format (`manage.py vm_manifest SPEC.yaml`), one YAML mapping:

    name: llm-training            # required; DNS-1035 label, at most 41 characters (37 on 0.x)
    team: research                # required; the team's name
    instance_type: g8.4xlarge     # catalogue instance type; its series sets the GPU count
    gpu_model: H100               # catalogue GPU model slug
    image: ubuntu                 # catalogue image slug
    system_disk:
      size: 500Gi                 # Kubernetes quantity, a whole number of GiB
      storage_class: replicated
    disks:                        # additional disks (current API only)
      - name: datasets            # DNS-1035 label; "os" is the system disk's
        size: 10Ti
        storage_class: replicated # optional, defaults to replicated
    public_ports: [22]            # ports opened on the public IP
    ssh_keys: ["ssh-ed25519 AAAA... me@laptop"]
    software: [nvidia-driver, dcgm-exporter]   # software block slugs; requirements are added
    cloud_config: |               # extra cloud-config, a YAML mapping merged after the blocks
      packages: [htop]
    network: null                 # a network name, or null for none
    justification: ""             # why; required for GPU models that need approval

Omitted keys take the form's defaults (`SpecDefaults`); unknown keys are errors. `null` means
"empty" for disks, public_ports, ssh_keys, software, cloud_config and justification, "none" for
network, and is an error elsewhere. Sizes accept the binary suffixes Ki, Mi, Gi, Ti, Pi and the
decimal ones k, M, G, T, P, with an optional decimal fraction, as long as the result is a whole,
positive number of GiB; a bare number is rejected because Kubernetes would read it as bytes.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.utils.translation import gettext as _

from vms import catalogue_data
from vms.cloudinit import conflicting_user_keys, parse_user_cloud_config

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
                for gpu in catalogue_data.GPU_MODELS
            },
            instance_types={item["name"]: InstanceTypeInfo(**item) for item in catalogue_data.INSTANCE_TYPES},
            images={
                image["slug"]: ImageInfo(
                    slug=image["slug"],
                    profile=image["profile"],
                    default_user=image["default_user"],
                    runs_software_blocks=image["runs_software_blocks"],
                )
                for image in catalogue_data.IMAGES
            },
            storage_classes=tuple(item["name"] for item in catalogue_data.STORAGE_CLASSES),
            networks=networks,
            software=tuple(block["slug"] for block in catalogue_data.SOFTWARE_BLOCKS),
            limits=Limits(**catalogue_data.LIMITS),
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
        defaults = catalogue_data.FORM_DEFAULTS
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


@dataclass
class ValidationResult:
    errors: dict[str, list[str]]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors


# Where each form field lives in a spec document, for callers that report validation errors
# against the document (fields not listed have the same name in both).
DOCUMENT_PATH_BY_FIELD = {
    "system_disk_size": "system_disk.size",
    "system_disk_class": "system_disk.storage_class",
}


def preset_spec(
    preset: Mapping,
    *,
    team: str,
    name: str | None = None,
    image: str = "ubuntu",
    ssh_keys: tuple[str, ...] = (),
    justification: str = "",
) -> VmSpec:
    """A request pre-filled from one of `catalogue_data.PRESETS`, named after it unless `name` is given."""
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


# --- Quantities ---------------------------------------------------------------------------------

GIB = 2**30
# Nobody attaches a pebibyte disk to a VM; past this a size is a typo.
MAX_QUANTITY_GIB = 2**20
_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)")
_UNIT_BYTES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
_MAX_QUANTITY_CHARS = 32


def parse_quantity_gib(value: object) -> tuple[int | None, str | None]:
    """A Kubernetes quantity such as "200Gi" as a whole number of GiB, or an error message."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None, _("Add a unit, for example %(value)sGi: a bare number means bytes to Kubernetes.") % {
            "value": value
        }
    if not isinstance(value, str):
        return None, _("Write a size such as 200Gi or 2Ti.")
    text = value.strip()
    match = _QUANTITY.fullmatch(text) if len(text) <= _MAX_QUANTITY_CHARS else None
    if match is None:
        if text.startswith("-"):
            return None, _("The size must be greater than zero.")
        return None, _("“%(value)s” is not a size; write one such as 200Gi or 2Ti.") % {"value": value[:40]}
    with localcontext() as context:
        context.prec = 80
        try:
            size_bytes = Decimal(match["number"]) * _UNIT_BYTES[match["unit"]]
        except InvalidOperation:
            return None, _("“%(value)s” is not a size; write one such as 200Gi or 2Ti.") % {"value": value[:40]}
        if size_bytes == 0:
            return None, _("The size must be greater than zero.")
        if size_bytes > MAX_QUANTITY_GIB * GIB:
            return None, _("%(value)s is far larger than any disk; check the unit.") % {"value": text}
        if size_bytes % GIB:
            if match["unit"] in ("k", "M", "G", "T", "P"):
                return None, _(
                    "%(value)s is %(gib)s GiB, not a whole number of GiB; did you mean %(number)s%(unit)si?"
                ) % {
                    "value": text,
                    "gib": f"{size_bytes / GIB:.2f}",
                    "number": match["number"],
                    "unit": match["unit"].upper(),
                }
            return None, _("%(value)s is not a whole number of GiB.") % {"value": text}
        return int(size_bytes // GIB), None


# --- SSH keys -----------------------------------------------------------------------------------


def check_ssh_public_key(text: str) -> str | None:
    """Why `text` is not an acceptable OpenSSH public key, or None when it is."""
    key_text = text.strip()
    if "PRIVATE KEY" in key_text:
        return _(
            "This is a private key: never share it. Paste the public key instead, the contents of the "
            ".pub file (for example ~/.ssh/id_ed25519.pub), which starts with ssh-ed25519, ecdsa-sha2-… "
            "or ssh-rsa."
        )
    if not key_text:
        return _("The key is empty.")
    if "\n" in key_text or "\r" in key_text:
        return _("Put one key per entry, on a single line.")
    try:
        key = load_ssh_public_key(key_text.encode())
    except (ValueError, UnsupportedAlgorithm):
        return _("This is not an OpenSSH public key; it should look like “ssh-ed25519 AAAAC3Nza… you@laptop”.")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            return _(
                "This RSA key has %(bits)s bits; at least %(minimum)s are required. Generate a new key, "
                "preferably with ssh-keygen -t ed25519."
            ) % {"bits": key.key_size, "minimum": MIN_RSA_KEY_BITS}
        return None
    if isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        return None
    return _("Use an ed25519, ECDSA or RSA key.")


# --- Spec documents -----------------------------------------------------------------------------

DOCUMENT_KEYS = (
    "name",
    "team",
    "instance_type",
    "gpu_model",
    "image",
    "system_disk",
    "disks",
    "public_ports",
    "ssh_keys",
    "software",
    "cloud_config",
    "network",
    "justification",
)
_SYSTEM_DISK_KEYS = ("size", "storage_class")
_DISK_KEYS = ("name", "size", "storage_class")
_MISSING = object()


def _error(errors: dict[str, list[str]], path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _string(value: object, path: str, errors: dict[str, list[str]]) -> str | None:
    if isinstance(value, str):
        return value.strip()
    _error(errors, path, _("Must be a string."))
    return None


def _list(value: object, path: str, errors: dict[str, list[str]]) -> list | None:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    _error(errors, path, _("Must be a list."))
    return None


def _string_list(value: object, path: str, errors: dict[str, list[str]]) -> tuple[str, ...]:
    items = _list(value, path, errors) or []
    strings = [_string(item, f"{path}[{index}]", errors) for index, item in enumerate(items)]
    return tuple(item for item in strings if item is not None)


def _unknown_keys(mapping: dict, allowed: tuple[str, ...], prefix: str, errors: dict[str, list[str]]) -> None:
    for key in mapping:
        if key not in allowed:
            _error(
                errors,
                f"{prefix}{key}",
                _("Unknown key. Expected one of: %(keys)s.") % {"keys": ", ".join(allowed)},
            )


def _system_disk(value: object, defaults: SpecDefaults, errors: dict[str, list[str]]) -> tuple[int, str]:
    if value is _MISSING:
        return defaults.system_disk_gib, defaults.system_disk_class
    if not isinstance(value, dict):
        _error(errors, "system_disk", _("Must be a mapping with size and storage_class."))
        return defaults.system_disk_gib, defaults.system_disk_class
    _unknown_keys(value, _SYSTEM_DISK_KEYS, "system_disk.", errors)
    size_gib = defaults.system_disk_gib
    if "size" in value:
        size_gib, message = parse_quantity_gib(value["size"])
        if message:
            _error(errors, "system_disk.size", message)
    storage_class = defaults.system_disk_class
    if "storage_class" in value:
        storage_class = _string(value["storage_class"], "system_disk.storage_class", errors)
    return size_gib, storage_class


def _disks(value: object, defaults: SpecDefaults, errors: dict[str, list[str]]) -> tuple[DiskSpec, ...]:
    disks = []
    for index, row in enumerate(_list(value, "disks", errors) or []):
        path = f"disks[{index}]"
        if not isinstance(row, dict):
            _error(errors, path, _("Must be a mapping with name, size and storage_class."))
            continue
        _unknown_keys(row, _DISK_KEYS, f"{path}.", errors)
        name = _string(row["name"], f"{path}.name", errors) if "name" in row else None
        if "name" not in row:
            _error(errors, f"{path}.name", _("This field is required."))
        size_gib = None
        if "size" in row:
            size_gib, message = parse_quantity_gib(row["size"])
            if message:
                _error(errors, f"{path}.size", message)
        else:
            _error(errors, f"{path}.size", _("This field is required."))
        storage_class = defaults.disk_class
        if "storage_class" in row:
            storage_class = _string(row["storage_class"], f"{path}.storage_class", errors)
        if name is not None and size_gib is not None and storage_class is not None:
            disks.append(DiskSpec(name=name, size_gib=size_gib, storage_class=storage_class))
    return tuple(disks)


def _ports(value: object, errors: dict[str, list[str]]) -> tuple[int, ...]:
    ports = []
    for index, item in enumerate(_list(value, "public_ports", errors) or []):
        if isinstance(item, int) and not isinstance(item, bool):
            ports.append(item)
        else:
            _error(errors, f"public_ports[{index}]", _("Must be a port number."))
    return tuple(ports)


def parse_spec_document(data: object, *, defaults: SpecDefaults) -> tuple[VmSpec | None, dict[str, list[str]]]:
    """Read a spec document (already loaded from YAML) into a VmSpec.

    This checks the document's shape and types only, with errors keyed by the path of the value
    in the document ("disks[1].size"); run `validate_spec` on the result for the portal's rules.
    Returns the spec and no errors, or None and the errors.
    """
    if not isinstance(data, dict):
        return None, {NON_FIELD_ERRORS: [_("The document must be a mapping of keys to values, like “name: my-vm”.")]}
    errors: dict[str, list[str]] = {}
    _unknown_keys(data, DOCUMENT_KEYS, "", errors)

    def text(key: str, default: object) -> str | None:
        value = data.get(key, default)
        if value is _MISSING:
            _error(errors, key, _("This field is required."))
            return None
        return _string(value, key, errors)

    def optional_text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else _string(value, key, errors)

    network = data.get("network")
    cloud_config = data.get("cloud_config")
    spec_fields = {
        "name": text("name", _MISSING),
        "team": text("team", _MISSING),
        "instance_type": text("instance_type", defaults.instance_type),
        "gpu_model": text("gpu_model", defaults.gpu_model),
        "image": text("image", defaults.image),
        "disks": _disks(data.get("disks"), defaults, errors),
        "public_ports": _ports(data.get("public_ports", list(defaults.public_ports)), errors),
        "ssh_keys": _string_list(data.get("ssh_keys"), "ssh_keys", errors),
        "software": _string_list(data.get("software", list(defaults.software)), "software", errors),
        # Not stripped: leading spaces are YAML indentation.
        "cloud_config": "" if cloud_config is None else cloud_config,
        # A blank name means "none", as in the request form.
        "network": None if network is None or network == "" else _string(network, "network", errors),
        "justification": optional_text("justification"),
    }
    if not isinstance(spec_fields["cloud_config"], str):
        _error(
            errors,
            "cloud_config",
            _("Must be a string; write the cloud-config as a YAML block (cloud_config: |)."),
        )
    spec_fields["system_disk_gib"], spec_fields["system_disk_class"] = _system_disk(
        data.get("system_disk", _MISSING), defaults, errors
    )
    if errors:
        return None, errors
    return VmSpec(**spec_fields), {}


# --- Validation ---------------------------------------------------------------------------------


def _check_name(name: str, api_shape: str, errors: dict[str, list[str]]) -> None:
    if not name:
        _error(errors, "name", _("This field is required."))
    elif api_shape == API_SHAPE_LEGACY and len(name) > MAX_LEGACY_VM_NAME_LENGTH:
        _error(
            errors,
            "name",
            _("At most %(max)s characters (the 0.x VirtualMachine app's limit); this name has %(length)s.")
            % {"max": MAX_LEGACY_VM_NAME_LENGTH, "length": len(name)},
        )
    elif len(name) > MAX_VM_NAME_LENGTH:
        _error(
            errors,
            "name",
            _("At most %(max)s characters (Cozystack's limit for a VM); this name has %(length)s.")
            % {"max": MAX_VM_NAME_LENGTH, "length": len(name)},
        )
    elif not _DNS_1035_LABEL.fullmatch(name):
        _error(
            errors,
            "name",
            _("Use lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit."),
        )


def _check_instance_type(instance_type: InstanceTypeInfo | None, spec: VmSpec, errors: dict[str, list[str]]) -> None:
    if instance_type is None:
        _error(errors, "instance_type", _("Unknown instance type “%(name)s”.") % {"name": spec.instance_type})
        return
    series = _INSTANCE_SERIES.match(instance_type.name)
    if instance_type.gpus < 1:
        _error(errors, "instance_type", _("%(name)s has no GPU.") % {"name": instance_type.name})
    elif series and int(series["gpus"]) != instance_type.gpus:
        _error(
            errors,
            "instance_type",
            _(
                "%(name)s is in the G%(series)s series (%(series)s GPUs) but the catalogue gives it "
                "%(gpus)s; ask an administrator to fix the catalogue."
            )
            % {"name": instance_type.name, "series": series["gpus"], "gpus": instance_type.gpus},
        )


def _check_gpu_model(
    gpu_model: GpuModelInfo | None,
    instance_type: InstanceTypeInfo | None,
    spec: VmSpec,
    errors: dict[str, list[str]],
) -> None:
    if gpu_model is None:
        _error(errors, "gpu_model", _("Unknown GPU model “%(slug)s”.") % {"slug": spec.gpu_model})
    elif instance_type is not None and instance_type.gpus > gpu_model.capacity:
        _error(
            errors,
            "gpu_model",
            _("%(type)s needs %(count)s GPUs but the cluster has only %(capacity)s %(model)s.")
            % {
                "type": instance_type.name,
                "count": instance_type.gpus,
                "capacity": gpu_model.capacity,
                "model": gpu_model.slug,
            },
        )


def _check_size(size_gib: int, minimum: int, maximum: int) -> str | None:
    if size_gib < minimum:
        return _("at least %(min)s GiB.") % {"min": minimum}
    if size_gib > maximum:
        return _("at most %(max)s GiB.") % {"max": maximum}
    return None


def _unknown_storage_class(name: str, catalogue: Catalogue) -> str | None:
    if name in catalogue.storage_classes:
        return None
    return _("unknown storage class “%(name)s”; choose one of %(choices)s.") % {
        "name": name,
        "choices": ", ".join(sorted(catalogue.storage_classes)),
    }


def _check_system_disk(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    limits = catalogue.limits
    size_problem = _check_size(spec.system_disk_gib, limits.min_system_disk_gib, limits.max_disk_gib)
    if size_problem:
        _error(errors, "system_disk_size", _("The system disk needs %(problem)s") % {"problem": size_problem})
    class_problem = _unknown_storage_class(spec.system_disk_class, catalogue)
    if class_problem:
        _error(errors, "system_disk_class", class_problem[0].upper() + class_problem[1:])


def _check_disks(spec: VmSpec, catalogue: Catalogue, api_shape: str, errors: dict[str, list[str]]) -> None:
    if not spec.disks:
        return
    if api_shape == API_SHAPE_LEGACY:
        _error(
            errors,
            "disks",
            _(
                "Additional disks need Cozystack's current API (one VMDisk per disk). This portal is "
                "configured for the legacy 0.x VirtualMachine app, which has only a system disk: make "
                "the system disk larger instead."
            ),
        )
        return
    limits = catalogue.limits
    if len(spec.disks) > limits.max_disks:
        _error(errors, "disks", _("At most %(max)s additional disks.") % {"max": limits.max_disks})
    vm_name_ok = "name" not in errors
    seen = {SYSTEM_DISK_NAME}
    for number, disk in enumerate(spec.disks, start=1):
        row = (
            _("Disk %(number)s (%(name)s)") % {"number": number, "name": disk.name}
            if disk.name
            else _("Disk %(number)s") % {"number": number}
        )
        problems = []
        if not disk.name:
            problems.append(_("a name is required."))
        elif not _DNS_1035_LABEL.fullmatch(disk.name):
            problems.append(
                _(
                    "use lowercase letters, digits and hyphens, starting with a letter and ending with a "
                    "letter or digit."
                )
            )
        elif disk.name == SYSTEM_DISK_NAME:
            problems.append(_("“%(name)s” is the system disk's name; choose another.") % {"name": SYSTEM_DISK_NAME})
        elif disk.name in seen:
            problems.append(_("another disk already has this name."))
        elif vm_name_ok and len(disk_object_name(spec.name, disk.name)) > MAX_VMDISK_NAME_LENGTH:
            object_name = disk_object_name(spec.name, disk.name)
            problems.append(
                _(
                    "its disk object “%(object)s” would have %(length)s characters, over the %(max)s "
                    "Cozystack allows; shorten the disk name or the VM name."
                )
                % {"object": object_name, "length": len(object_name), "max": MAX_VMDISK_NAME_LENGTH}
            )
        seen.add(disk.name)
        size_problem = _check_size(disk.size_gib, limits.min_disk_gib, limits.max_disk_gib)
        if size_problem:
            problems.append(_("the size must be %(problem)s") % {"problem": size_problem})
        class_problem = _unknown_storage_class(disk.storage_class, catalogue)
        if class_problem:
            problems.append(class_problem)
        for problem in problems:
            _error(errors, "disks", f"{row}: {problem}")


def _check_ports(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    if len(spec.public_ports) > catalogue.limits.max_ports:
        _error(errors, "public_ports", _("At most %(max)s public ports.") % {"max": catalogue.limits.max_ports})
    seen = set()
    for port in spec.public_ports:
        if not 1 <= port <= 65535:
            _error(errors, "public_ports", _("Port %(port)s: use a number from 1 to 65535.") % {"port": port})
        elif port in seen:
            _error(errors, "public_ports", _("Port %(port)s is listed twice.") % {"port": port})
        seen.add(port)


def _check_ssh_keys(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    if len(spec.ssh_keys) > catalogue.limits.max_ssh_keys:
        _error(errors, "ssh_keys", _("At most %(max)s SSH keys.") % {"max": catalogue.limits.max_ssh_keys})
    first_seen: dict[str, int] = {}
    for number, key in enumerate(spec.ssh_keys, start=1):
        problem = check_ssh_public_key(key)
        if problem:
            _error(errors, "ssh_keys", _("Key %(number)s: %(problem)s") % {"number": number, "problem": problem})
            continue
        # Comments do not make two keys different.
        key_type_and_body = " ".join(key.split()[:2])
        if key_type_and_body in first_seen:
            _error(
                errors,
                "ssh_keys",
                _("Key %(number)s is the same as key %(first)s.")
                % {"number": number, "first": first_seen[key_type_and_body]},
            )
        first_seen.setdefault(key_type_and_body, number)


def _check_software(spec: VmSpec, image: ImageInfo | None, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    unknown = [slug for slug in spec.software if slug not in catalogue.software]
    for slug in unknown:
        _error(errors, "software", _("Unknown software block “%(slug)s”.") % {"slug": slug})
    duplicates = sorted({slug for slug in spec.software if spec.software.count(slug) > 1})
    for slug in duplicates:
        _error(errors, "software", _("“%(slug)s” is selected twice.") % {"slug": slug})
    if spec.software and image is not None and not image.runs_software_blocks:
        _error(
            errors,
            "software",
            _("The software blocks install Ubuntu packages; choose the Ubuntu image or no software block."),
        )


def _check_cloud_config(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    user_config, problem = parse_user_cloud_config(spec.cloud_config, max_bytes=catalogue.limits.max_cloud_config_bytes)
    if problem:
        _error(errors, "cloud_config", problem)
        return
    if "software" in errors:
        return
    for key, expected in conflicting_user_keys(user_config, software=spec.software):
        _error(
            errors,
            "cloud_config",
            _("“%(key)s” must be a %(expected)s here, because the software blocks add to it.")
            % {"key": key, "expected": _("list") if expected is list else _("mapping")},
        )


def _check_network(spec: VmSpec, catalogue: Catalogue, api_shape: str, errors: dict[str, list[str]]) -> None:
    if spec.network is None:
        return
    if api_shape == API_SHAPE_LEGACY:
        _error(
            errors,
            "network",
            _(
                "Attaching a network needs Cozystack's current API (VMInstance networks). This portal is "
                "configured for the legacy 0.x VirtualMachine app: leave the network empty."
            ),
        )
    elif spec.network not in catalogue.networks:
        _error(errors, "network", _("Unknown network “%(name)s”.") % {"name": spec.network})


def _check_justification(
    spec: VmSpec, gpu_model: GpuModelInfo | None, catalogue: Catalogue, errors: dict[str, list[str]]
) -> None:
    if gpu_model is not None and gpu_model.needs_approval and not spec.justification.strip():
        _error(
            errors,
            "justification",
            _("%(model)s requests are approved by hand: tell the approver what the GPUs are for.")
            % {"model": gpu_model.slug},
        )
    if len(spec.justification) > catalogue.limits.max_justification_chars:
        _error(
            errors,
            "justification",
            _("At most %(max)s characters.") % {"max": catalogue.limits.max_justification_chars},
        )


def _best_practice_warnings(spec: VmSpec, instance_type: InstanceTypeInfo | None) -> list[str]:
    warnings = []
    if instance_type is not None and instance_type.gpus > 0:
        vcpu_per_gpu = instance_type.vcpu / instance_type.gpus
        low, high = RECOMMENDED_VCPU_PER_GPU
        if not low <= vcpu_per_gpu <= high:
            warnings.append(
                _("%(type)s has %(ratio)g vCPUs per GPU; Hikube recommends %(low)s to %(high)s.")
                % {"type": instance_type.name, "ratio": vcpu_per_gpu, "low": low, "high": high}
            )
        ram_per_gpu = instance_type.ram_gib / instance_type.gpus
        if ram_per_gpu < RECOMMENDED_MIN_RAM_GIB_PER_GPU:
            warnings.append(
                _("%(type)s has %(ratio)g GiB of RAM per GPU; Hikube recommends at least %(min)s.")
                % {"type": instance_type.name, "ratio": ram_per_gpu, "min": RECOMMENDED_MIN_RAM_GIB_PER_GPU}
            )
    if spec.network and instance_type is not None and instance_type.gpus < 2:
        warnings.append(
            _("The HPC interconnect links multi-GPU VMs (G2, G4, G8); %(type)s has one GPU.")
            % {"type": instance_type.name}
        )
    if spec.system_disk_class == "local":
        warnings.append(
            _("The system disk is on local storage: it is lost if its node fails. Prefer replicated storage.")
        )
    if DCGM_EXPORTER_BLOCK not in spec.software:
        warnings.append(_("Without the GPU metrics block (DCGM exporter) the GPU charts will stay empty."))
    if not spec.ssh_keys:
        warnings.append(_("Without an SSH key you can reach the VM only through its console."))
    elif SSH_PORT not in spec.public_ports:
        warnings.append(_("Port 22 is not public: your SSH keys work only from inside the cluster."))
    return warnings


def validate_spec(spec: VmSpec, *, catalogue: Catalogue, api_shape: str) -> ValidationResult:
    """Every rule that needs no database. Errors are keyed by the request form's field names.

    Left to the caller: the team exists and the requester belongs to it, and the name is not
    taken by another VM of the team.
    """
    if api_shape not in API_SHAPES:
        raise ValueError(f"api_shape must be one of {API_SHAPES}, not {api_shape!r}")
    errors: dict[str, list[str]] = {}
    instance_type = catalogue.instance_types.get(spec.instance_type)
    gpu_model = catalogue.gpu_models.get(spec.gpu_model)
    image = catalogue.images.get(spec.image)

    _check_name(spec.name, api_shape, errors)
    if not spec.team:
        _error(errors, "team", _("This field is required."))
    _check_instance_type(instance_type, spec, errors)
    _check_gpu_model(gpu_model, instance_type, spec, errors)
    if image is None:
        _error(errors, "image", _("Unknown image “%(slug)s”.") % {"slug": spec.image})
    elif api_shape == API_SHAPE_LEGACY and image.slug not in LEGACY_SYSTEM_IMAGES:
        _error(
            errors,
            "image",
            _("The legacy 0.x VirtualMachine app only boots %(images)s.") % {"images": ", ".join(LEGACY_SYSTEM_IMAGES)},
        )
    _check_system_disk(spec, catalogue, errors)
    _check_disks(spec, catalogue, api_shape, errors)
    _check_ports(spec, catalogue, errors)
    _check_ssh_keys(spec, catalogue, errors)
    _check_software(spec, image, catalogue, errors)
    _check_cloud_config(spec, catalogue, errors)
    _check_network(spec, catalogue, api_shape, errors)
    _check_justification(spec, gpu_model, catalogue, errors)
    return ValidationResult(errors=errors, warnings=_best_practice_warnings(spec, instance_type))
