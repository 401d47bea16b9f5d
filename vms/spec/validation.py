"""Every rule a request must pass that needs no database."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from vms.catalogue.offer import Catalogue, GpuModelInfo, ImageInfo, InstanceTypeInfo
from vms.spec.cloud_config import conflicting_user_keys, parse_user_cloud_config
from vms.spec.request import (
    _DNS_1035_LABEL,
    _INSTANCE_SERIES,
    API_SHAPE_LEGACY,
    API_SHAPES,
    DCGM_EXPORTER_BLOCK,
    LEGACY_SYSTEM_IMAGES,
    MAX_LEGACY_VM_NAME_LENGTH,
    MAX_VM_NAME_LENGTH,
    MAX_VMDISK_NAME_LENGTH,
    RECOMMENDED_MIN_RAM_GIB_PER_GPU,
    RECOMMENDED_VCPU_PER_GPU,
    SSH_PORT,
    SYSTEM_DISK_NAME,
    VmSpec,
    add_error,
    disk_object_name,
)
from vms.spec.ssh_keys import check_ssh_public_key


@dataclass
class ValidationResult:
    errors: dict[str, list[str]]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_name(name: str, api_shape: str, errors: dict[str, list[str]]) -> None:
    if not name:
        add_error(errors, "name", _("This field is required."))
    elif api_shape == API_SHAPE_LEGACY and len(name) > MAX_LEGACY_VM_NAME_LENGTH:
        add_error(
            errors,
            "name",
            _("At most %(max)s characters (the 0.x VirtualMachine app's limit); this name has %(length)s.")
            % {"max": MAX_LEGACY_VM_NAME_LENGTH, "length": len(name)},
        )
    elif len(name) > MAX_VM_NAME_LENGTH:
        add_error(
            errors,
            "name",
            _("At most %(max)s characters (Cozystack's limit for a VM); this name has %(length)s.")
            % {"max": MAX_VM_NAME_LENGTH, "length": len(name)},
        )
    elif not _DNS_1035_LABEL.fullmatch(name):
        add_error(
            errors,
            "name",
            _("Use lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit."),
        )


def _check_instance_type(instance_type: InstanceTypeInfo | None, spec: VmSpec, errors: dict[str, list[str]]) -> None:
    if instance_type is None:
        add_error(errors, "instance_type", _("Unknown instance type “%(name)s”.") % {"name": spec.instance_type})
        return
    series = _INSTANCE_SERIES.match(instance_type.name)
    if instance_type.gpus < 1:
        add_error(errors, "instance_type", _("%(name)s has no GPU.") % {"name": instance_type.name})
    elif series and int(series["gpus"]) != instance_type.gpus:
        add_error(
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
        add_error(errors, "gpu_model", _("Unknown GPU model “%(slug)s”.") % {"slug": spec.gpu_model})
    elif instance_type is not None and instance_type.gpus > gpu_model.capacity:
        add_error(
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
        add_error(errors, "system_disk_size", _("The system disk needs %(problem)s") % {"problem": size_problem})
    class_problem = _unknown_storage_class(spec.system_disk_class, catalogue)
    if class_problem:
        add_error(errors, "system_disk_class", class_problem[0].upper() + class_problem[1:])


def _check_disks(spec: VmSpec, catalogue: Catalogue, api_shape: str, errors: dict[str, list[str]]) -> None:
    if not spec.disks:
        return
    if api_shape == API_SHAPE_LEGACY:
        add_error(
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
        add_error(errors, "disks", _("At most %(max)s additional disks.") % {"max": limits.max_disks})
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
            add_error(errors, "disks", f"{row}: {problem}")


def _check_ports(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    if len(spec.public_ports) > catalogue.limits.max_ports:
        add_error(errors, "public_ports", _("At most %(max)s public ports.") % {"max": catalogue.limits.max_ports})
    seen = set()
    for port in spec.public_ports:
        if not 1 <= port <= 65535:
            add_error(errors, "public_ports", _("Port %(port)s: use a number from 1 to 65535.") % {"port": port})
        elif port in seen:
            add_error(errors, "public_ports", _("Port %(port)s is listed twice.") % {"port": port})
        seen.add(port)


def _check_ssh_keys(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    if len(spec.ssh_keys) > catalogue.limits.max_ssh_keys:
        add_error(errors, "ssh_keys", _("At most %(max)s SSH keys.") % {"max": catalogue.limits.max_ssh_keys})
    first_seen: dict[str, int] = {}
    for number, key in enumerate(spec.ssh_keys, start=1):
        problem = check_ssh_public_key(key)
        if problem:
            add_error(errors, "ssh_keys", _("Key %(number)s: %(problem)s") % {"number": number, "problem": problem})
            continue
        # Comments do not make two keys different.
        key_type_and_body = " ".join(key.split()[:2])
        if key_type_and_body in first_seen:
            add_error(
                errors,
                "ssh_keys",
                _("Key %(number)s is the same as key %(first)s.")
                % {"number": number, "first": first_seen[key_type_and_body]},
            )
        first_seen.setdefault(key_type_and_body, number)


def _check_software(spec: VmSpec, image: ImageInfo | None, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    unknown = [slug for slug in spec.software if slug not in catalogue.software]
    for slug in unknown:
        add_error(errors, "software", _("Unknown software block “%(slug)s”.") % {"slug": slug})
    duplicates = sorted({slug for slug in spec.software if spec.software.count(slug) > 1})
    for slug in duplicates:
        add_error(errors, "software", _("“%(slug)s” is selected twice.") % {"slug": slug})
    if spec.software and image is not None and not image.runs_software_blocks:
        add_error(
            errors,
            "software",
            _("The software blocks install Ubuntu packages; choose the Ubuntu image or no software block."),
        )


def _check_cloud_config(spec: VmSpec, catalogue: Catalogue, errors: dict[str, list[str]]) -> None:
    user_config, problem = parse_user_cloud_config(spec.cloud_config, max_bytes=catalogue.limits.max_cloud_config_bytes)
    if problem:
        add_error(errors, "cloud_config", problem)
        return
    if "software" in errors:
        return
    for key, expected in conflicting_user_keys(user_config, software=spec.software):
        add_error(
            errors,
            "cloud_config",
            _("“%(key)s” must be a %(expected)s here, because the software blocks add to it.")
            % {"key": key, "expected": _("list") if expected is list else _("mapping")},
        )


def _check_network(spec: VmSpec, catalogue: Catalogue, api_shape: str, errors: dict[str, list[str]]) -> None:
    if spec.network is None:
        return
    if api_shape == API_SHAPE_LEGACY:
        add_error(
            errors,
            "network",
            _(
                "Attaching a network needs Cozystack's current API (VMInstance networks). This portal is "
                "configured for the legacy 0.x VirtualMachine app: leave the network empty."
            ),
        )
    elif spec.network not in catalogue.networks:
        add_error(errors, "network", _("Unknown network “%(name)s”.") % {"name": spec.network})


def _check_justification(
    spec: VmSpec, gpu_model: GpuModelInfo | None, catalogue: Catalogue, errors: dict[str, list[str]]
) -> None:
    if gpu_model is not None and gpu_model.needs_approval and not spec.justification.strip():
        add_error(
            errors,
            "justification",
            _("%(model)s requests are approved by hand: tell the approver what the GPUs are for.")
            % {"model": gpu_model.slug},
        )
    if len(spec.justification) > catalogue.limits.max_justification_chars:
        add_error(
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
        add_error(errors, "team", _("This field is required."))
    _check_instance_type(instance_type, spec, errors)
    _check_gpu_model(gpu_model, instance_type, spec, errors)
    if image is None:
        add_error(errors, "image", _("Unknown image “%(slug)s”.") % {"slug": spec.image})
    elif api_shape == API_SHAPE_LEGACY and image.slug not in LEGACY_SYSTEM_IMAGES:
        add_error(
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
