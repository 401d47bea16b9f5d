"""A VM request as the ordered list of Kubernetes objects the cluster expects (pure functions).

Two API shapes, chosen by the caller:
- "current" (Cozystack 1.x): one `VMDisk` per disk, system disk first, then the `VMInstance`
  that lists them, since disks must exist before the instance that boots from them;
- "legacy" (Cozystack 0.x): a single `VirtualMachine` with its system disk inline.

Render only specs that `vms.spec.validation.validate_spec` accepted. Every rendered `spec` validates against
the upstream `values.schema.json` copied in `vms/render/upstream_schemas/` (see `validate_against_upstream`).
Object names are explained in the `vms.spec` module docstring.
"""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from vms.catalogue.offer import Catalogue
from vms.spec.cloud_config import ReadableDumper, compose_cloud_config
from vms.spec.request import (
    API_SHAPE_CURRENT,
    API_SHAPE_LEGACY,
    API_SHAPES,
    MAX_LEGACY_VM_NAME_LENGTH,
    MAX_VM_NAME_LENGTH,
    MAX_VMDISK_NAME_LENGTH,
    SYSTEM_DISK_NAME,
    VmSpec,
    disk_object_name,
)

API_VERSION = "apps.cozystack.io/v1alpha1"
KIND_VMDISK = "VMDisk"
KIND_VMINSTANCE = "VMInstance"
KIND_VIRTUAL_MACHINE = "VirtualMachine"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_PORTAL = "hikube-gpu-portal"
LABEL_VM_ID = "portal.hikube.cloud/vm-id"
LABEL_VM_NAME = "portal.hikube.cloud/vm-name"

# The label Cozystack's charts put on what they render, valued with the Helm release name
# (`vm-instance-N`, `vm-disk-N`, `virtual-machine-N`). The charts never copy the app's own labels
# (ours above) onto anything they render, so children are found by name or by this label.
CHART_INSTANCE_LABEL = "app.kubernetes.io/instance"

# Prefixes Cozystack's charts put in front of the app's name for the objects they create.
VM_INSTANCE_PREFIX = "vm-instance-"
VM_DISK_PREFIX = "vm-disk-"
LEGACY_VIRTUAL_MACHINE_PREFIX = "virtual-machine-"

_SCHEMA_DIR = Path(__file__).resolve().parent / "upstream_schemas"
_SCHEMA_FILE_BY_KIND = {
    KIND_VMDISK: "vm-disk/values.schema.json",
    KIND_VMINSTANCE: "vm-instance/values.schema.json",
    KIND_VIRTUAL_MACHINE: "virtual-machine/values.schema.json",
}
_MAX_NAME_LENGTH_BY_KIND = {
    KIND_VMDISK: MAX_VMDISK_NAME_LENGTH,
    KIND_VMINSTANCE: MAX_VM_NAME_LENGTH,
    KIND_VIRTUAL_MACHINE: MAX_LEGACY_VM_NAME_LENGTH,
}


@dataclass(frozen=True)
class DiskObjectNames:
    disk: str
    vmdisk: str | None
    data_volume: str


@dataclass(frozen=True)
class ObjectNames:
    """The app objects the portal creates and the cluster objects that report on them."""

    app_kind: str
    app_name: str
    kubevirt_vm: str
    service: str
    disks: tuple[DiskObjectNames, ...]


def object_names(spec: VmSpec, *, api_shape: str = API_SHAPE_CURRENT) -> ObjectNames:
    if api_shape == API_SHAPE_LEGACY:
        # The 0.x chart names the KubeVirt VM, its only DataVolume and its Service alike.
        derived = LEGACY_VIRTUAL_MACHINE_PREFIX + spec.name
        return ObjectNames(
            app_kind=KIND_VIRTUAL_MACHINE,
            app_name=spec.name,
            kubevirt_vm=derived,
            service=derived,
            disks=(DiskObjectNames(disk=SYSTEM_DISK_NAME, vmdisk=None, data_volume=derived),),
        )
    disk_names = [SYSTEM_DISK_NAME, *(disk.name for disk in spec.disks)]
    vmdisks = [disk_object_name(spec.name, disk) for disk in disk_names]
    return ObjectNames(
        app_kind=KIND_VMINSTANCE,
        app_name=spec.name,
        kubevirt_vm=VM_INSTANCE_PREFIX + spec.name,
        service=VM_INSTANCE_PREFIX + spec.name,
        disks=tuple(
            DiskObjectNames(disk=disk, vmdisk=vmdisk, data_volume=VM_DISK_PREFIX + vmdisk)
            for disk, vmdisk in zip(disk_names, vmdisks, strict=True)
        ),
    )


def rendered_for(child: dict | None, app: dict | None) -> dict | None:
    """`child` (found by its deterministic name) if it can be `app`'s: rendered after the app
    object was created. An older one is a leftover of a deleted namesake, still going away."""
    if child is None or app is None:
        return None
    created = (child.get("metadata") or {}).get("creationTimestamp") or ""
    return child if created >= ((app.get("metadata") or {}).get("creationTimestamp") or "") else None


def _metadata(name: str, *, namespace: str, spec: VmSpec, vm_id: int | str) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {
            LABEL_MANAGED_BY: MANAGED_BY_PORTAL,
            LABEL_VM_ID: str(vm_id),
            LABEL_VM_NAME: spec.name,
        },
    }


def _exposure(spec: VmSpec) -> dict:
    return {
        "external": bool(spec.public_ports),
        "externalMethod": "PortList",
        "externalPorts": list(spec.public_ports),
    }


def _access(spec: VmSpec, catalogue: Catalogue) -> dict:
    ssh_keys = [key.strip() for key in spec.ssh_keys]
    cloud_init = compose_cloud_config(
        software=spec.software,
        user_cloud_config=spec.cloud_config,
        ssh_keys=ssh_keys,
        default_user=catalogue.images[spec.image].default_user,
    )
    return {"sshKeys": ssh_keys, "cloudInit": cloud_init}


def _gpus(spec: VmSpec, catalogue: Catalogue) -> list[dict]:
    resource_name = catalogue.gpu_models[spec.gpu_model].resource_name
    return [{"name": resource_name} for _ in range(catalogue.instance_types[spec.instance_type].gpus)]


def _current(spec: VmSpec, *, catalogue: Catalogue, namespace: str, vm_id: int | str, running: bool) -> list[dict]:
    names = object_names(spec, api_shape=API_SHAPE_CURRENT)
    system_disk, *data_disks = names.disks
    objects = [
        {
            "apiVersion": API_VERSION,
            "kind": KIND_VMDISK,
            "metadata": _metadata(system_disk.vmdisk, namespace=namespace, spec=spec, vm_id=vm_id),
            "spec": {
                "source": {"image": {"name": spec.image}},
                "optical": False,
                "storage": f"{spec.system_disk_gib}Gi",
                "storageClass": spec.system_disk_class,
            },
        }
    ]
    for disk, names_of_disk in zip(spec.disks, data_disks, strict=True):
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": KIND_VMDISK,
                "metadata": _metadata(names_of_disk.vmdisk, namespace=namespace, spec=spec, vm_id=vm_id),
                # An empty source makes a blank disk.
                "spec": {
                    "source": {},
                    "optical": False,
                    "storage": f"{disk.size_gib}Gi",
                    "storageClass": disk.storage_class,
                },
            }
        )
    objects.append(
        {
            "apiVersion": API_VERSION,
            "kind": KIND_VMINSTANCE,
            "metadata": _metadata(names.app_name, namespace=namespace, spec=spec, vm_id=vm_id),
            "spec": {
                "runStrategy": "Always" if running else "Halted",
                "instanceType": spec.instance_type,
                "instanceProfile": catalogue.images[spec.image].profile,
                "disks": [{"name": disk.vmdisk} for disk in names.disks],
                "gpus": _gpus(spec, catalogue),
                "networks": [] if spec.network is None else [{"name": spec.network}],
                **_exposure(spec),
                **_access(spec, catalogue),
            },
        }
    )
    return objects


def _legacy(spec: VmSpec, *, catalogue: Catalogue, namespace: str, vm_id: int | str, running: bool) -> list[dict]:
    # Validation refuses these for the legacy shape; dropping them here would lose data silently.
    if spec.disks or spec.network is not None:
        raise ValueError("the legacy VirtualMachine app has no additional disks or networks")
    return [
        {
            "apiVersion": API_VERSION,
            "kind": KIND_VIRTUAL_MACHINE,
            "metadata": _metadata(spec.name, namespace=namespace, spec=spec, vm_id=vm_id),
            "spec": {
                "running": running,
                "instanceType": spec.instance_type,
                "instanceProfile": catalogue.images[spec.image].profile,
                "systemDisk": {
                    "image": spec.image,
                    "storage": f"{spec.system_disk_gib}Gi",
                    "storageClass": spec.system_disk_class,
                },
                "gpus": _gpus(spec, catalogue),
                **_exposure(spec),
                **_access(spec, catalogue),
            },
        }
    ]


def render_manifests(
    spec: VmSpec,
    *,
    catalogue: Catalogue,
    namespace: str,
    vm_id: int | str,
    api_shape: str,
    running: bool = True,
) -> list[dict]:
    """The objects to apply, in order (disks first, boot disk first, then the instance)."""
    if api_shape not in API_SHAPES:
        raise ValueError(f"api_shape must be one of {API_SHAPES}, not {api_shape!r}")
    render = _legacy if api_shape == API_SHAPE_LEGACY else _current
    return render(spec, catalogue=catalogue, namespace=namespace, vm_id=vm_id, running=running)


def to_yaml(objects: list[dict]) -> str:
    """The objects as one multi-document YAML stream, keys in the order they were built."""
    return yaml.dump_all(
        objects, Dumper=ReadableDumper, sort_keys=False, explicit_start=True, allow_unicode=True, width=1000
    )


def _closed(schema: object) -> object:
    """The schema with undeclared keys forbidden: Cozystack ignores them silently, we would rather know."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


def _load_schemas() -> dict[str, dict]:
    return {
        kind: json.loads((_SCHEMA_DIR / relative_path).read_text())
        for kind, relative_path in _SCHEMA_FILE_BY_KIND.items()
    }


SCHEMAS = _load_schemas()
_VALIDATORS = {
    kind: jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(
        _closed(copy.deepcopy(schema))
    )
    for kind, schema in SCHEMAS.items()
}


def validate_against_upstream(obj: dict) -> list[str]:
    """Why `obj` would not be accepted as the upstream app it claims to be (empty when it would).

    Checks the apiVersion, the name's length limit and the spec against the kind's closed
    upstream schema. Messages are for developers: a rendered object failing here is a bug.
    """
    kind = obj.get("kind")
    if kind not in _VALIDATORS:
        return [f"unknown kind {kind!r}; expected one of {sorted(_VALIDATORS)}"]
    problems = []
    if obj.get("apiVersion") != API_VERSION:
        problems.append(f"{kind}: apiVersion is {obj.get('apiVersion')!r}, expected {API_VERSION!r}")
    name = obj.get("metadata", {}).get("name", "")
    if not name or len(name) > _MAX_NAME_LENGTH_BY_KIND[kind]:
        problems.append(f"{kind} {name!r}: name must have 1 to {_MAX_NAME_LENGTH_BY_KIND[kind]} characters")
    for error in sorted(_VALIDATORS[kind].iter_errors(obj.get("spec")), key=lambda error: list(error.path)):
        path = ".".join(str(part) for part in error.path)
        problems.append(f"{kind} {name}: spec{'.' + path if path else ''}: {error.message}")
    return problems
