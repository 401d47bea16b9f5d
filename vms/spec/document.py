"""The YAML spec document (`manage.py vm_manifest`) parsed into a VmSpec; format in vms/spec/__init__.py."""

from django.utils.translation import gettext as _

from vms.catalogue.offer import SpecDefaults
from vms.spec.quantities import parse_quantity_gib
from vms.spec.request import NON_FIELD_ERRORS, DiskSpec, VmSpec, add_error

# Where each form field lives in a spec document, for callers that report validation errors
# against the document (fields not listed have the same name in both).
DOCUMENT_PATH_BY_FIELD = {
    "system_disk_size": "system_disk.size",
    "system_disk_class": "system_disk.storage_class",
}


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


def _string(value: object, path: str, errors: dict[str, list[str]]) -> str | None:
    if isinstance(value, str):
        return value.strip()
    add_error(errors, path, _("Must be a string."))
    return None


def _list(value: object, path: str, errors: dict[str, list[str]]) -> list | None:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    add_error(errors, path, _("Must be a list."))
    return None


def _string_list(value: object, path: str, errors: dict[str, list[str]]) -> tuple[str, ...]:
    items = _list(value, path, errors) or []
    strings = [_string(item, f"{path}[{index}]", errors) for index, item in enumerate(items)]
    return tuple(item for item in strings if item is not None)


def _unknown_keys(mapping: dict, allowed: tuple[str, ...], prefix: str, errors: dict[str, list[str]]) -> None:
    for key in mapping:
        if key not in allowed:
            add_error(
                errors,
                f"{prefix}{key}",
                _("Unknown key. Expected one of: %(keys)s.") % {"keys": ", ".join(allowed)},
            )


def _system_disk(value: object, defaults: SpecDefaults, errors: dict[str, list[str]]) -> tuple[int, str]:
    if value is _MISSING:
        return defaults.system_disk_gib, defaults.system_disk_class
    if not isinstance(value, dict):
        add_error(errors, "system_disk", _("Must be a mapping with size and storage_class."))
        return defaults.system_disk_gib, defaults.system_disk_class
    _unknown_keys(value, _SYSTEM_DISK_KEYS, "system_disk.", errors)
    size_gib = defaults.system_disk_gib
    if "size" in value:
        size_gib, message = parse_quantity_gib(value["size"])
        if message:
            add_error(errors, "system_disk.size", message)
    storage_class = defaults.system_disk_class
    if "storage_class" in value:
        storage_class = _string(value["storage_class"], "system_disk.storage_class", errors)
    return size_gib, storage_class


def _disks(value: object, defaults: SpecDefaults, errors: dict[str, list[str]]) -> tuple[DiskSpec, ...]:
    disks = []
    for index, row in enumerate(_list(value, "disks", errors) or []):
        path = f"disks[{index}]"
        if not isinstance(row, dict):
            add_error(errors, path, _("Must be a mapping with name, size and storage_class."))
            continue
        _unknown_keys(row, _DISK_KEYS, f"{path}.", errors)
        name = _string(row["name"], f"{path}.name", errors) if "name" in row else None
        if "name" not in row:
            add_error(errors, f"{path}.name", _("This field is required."))
        size_gib = None
        if "size" in row:
            size_gib, message = parse_quantity_gib(row["size"])
            if message:
                add_error(errors, f"{path}.size", message)
        else:
            add_error(errors, f"{path}.size", _("This field is required."))
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
            add_error(errors, f"public_ports[{index}]", _("Must be a port number."))
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
            add_error(errors, key, _("This field is required."))
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
        add_error(
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
