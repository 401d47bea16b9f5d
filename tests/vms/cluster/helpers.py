"""Helpers shared by the provisioning tests."""

import time

from vms.cluster import sync
from vms.cluster.gateway import APPS_KINDS, DATA_VOLUME, KUBEVIRT_VM
from vms.models import VirtualMachine
from vms.render.manifests import LABEL_VM_ID
from vms.render.vm_record import vm_object_names
from vms.spec.request import API_SHAPE_LEGACY

# What a VM made by new_vm() on the current shape has on the cluster.
CURRENT_SET = [
    ("DataVolume", "vm-disk-train-1-data"),
    ("DataVolume", "vm-disk-train-1-os"),
    ("VMDisk", "train-1-data"),
    ("VMDisk", "train-1-os"),
    ("VMInstance", "train-1"),
    ("VirtualMachine", "vm-instance-train-1"),
]
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1jGp0ZmXy1jVxYk3m0d3pVbq0l3WcS6rY2l8lqQ9D dana@laptop"


def new_vm(
    *,
    team,
    owner,
    name="train-1",
    gpu="L40S",
    instance_type="g1.large",
    api_shape="current",
    state="approved",
    **fields,
):
    from tests.vms.factories import make_vm

    defaults = {"public_ports": [22], "ssh_keys": [SSH_KEY]}
    if api_shape != API_SHAPE_LEGACY:
        defaults["disks"] = [{"name": "data", "size_gib": 50, "storage_class": "replicated"}]
    return make_vm(
        team=team,
        owner=owner,
        name=name,
        gpu=gpu,
        instance_type=instance_type,
        state=state,
        api_shape=api_shape,
        **{**defaults, **fields},
    )


def converge(gateway, vm_id: int, state: str, *, timeout: float = 20.0) -> VirtualMachine:
    """Runs the status sync, as beat would, until the VM reaches `state`."""
    deadline = time.monotonic() + timeout
    while True:
        sync.sync_cluster(gateway=gateway)
        vm = VirtualMachine.objects.get(pk=vm_id)
        if vm.state == state:
            return vm
        if time.monotonic() > deadline:
            timeline = [event.text for event in vm.events.order_by("created_at", "id")]
            raise AssertionError(
                f"VM {vm_id} is {vm.state}, not {state}, after {timeout} s; "
                f"failure: {vm.failure_message!r}; timeline: {timeline}"
            )
        time.sleep(0.05)


def cluster_objects(gateway, namespace: str, vm_id: int | None = None) -> list[tuple[str, str]]:
    """(kind, name) of the portal's apps objects in `namespace` and of the KubeVirt VMs and
    DataVolumes rendered for them, found by name as on a real cluster (of one VM if given)."""
    selector = f"{LABEL_VM_ID}={vm_id}" if vm_id is not None else LABEL_VM_ID
    found = []
    for kind in APPS_KINDS:
        objects = gateway.list(kind, namespace, label_selector=selector)
        found += [(kind.kind, obj["metadata"]["name"]) for obj in objects]
    vms = VirtualMachine.objects.all() if vm_id is None else VirtualMachine.objects.filter(pk=vm_id)
    rendered = set()
    for vm in vms.select_related("team", "instance_type", "gpu_model"):
        if vm.namespace != namespace:
            continue
        names = vm_object_names(vm)
        rendered |= {names.kubevirt_vm, *(disk.data_volume for disk in names.disks)}
    for kind in (KUBEVIRT_VM, DATA_VOLUME):
        found += [
            (kind.kind, obj["metadata"]["name"])
            for obj in gateway.list(kind, namespace)
            if obj["metadata"]["name"] in rendered
        ]
    return sorted(found)


def timeline(vm) -> list[str]:
    return [event.text for event in vm.events.order_by("created_at", "id")]
