"""The development cluster's controller on the real API server (`python -m devcluster
--controller-only`): what it writes is accepted there, VMs the portal renders reach Running with
exactly the upstream children, deletion removes them, and its switches work."""

import functools
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support import kube
from tests.support.children import check_children
from tests.support.devcluster import DevController
from tests.support.processes import wait_until
from vms.catalogue.offer import Catalogue
from vms.render.manifests import render_manifests
from vms.spec.request import DiskSpec, VmSpec

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

GROUP, VERSION = "apps.cozystack.io", "v1alpha1"
PLURALS = {"VMDisk": "vmdisks", "VMInstance": "vminstances", "VirtualMachine": "virtualmachines"}
H100 = "nvidia.com/H100_94GB"
CATALOGUE = Catalogue.from_seed()


# The controllers work asynchronously, some on periodic resyncs.
eventually = functools.partial(wait_until, timeout=30.0)


@pytest.fixture(scope="module")
def controller(real_cluster, tmp_path_factory):
    with DevController(
        tmp_path_factory.mktemp("devcontroller"), kubeconfig=real_cluster.admin_kubeconfig, gpus="H100=2,A100=8,L40S=8"
    ) as running:
        yield running


@pytest.fixture
def tenant(real_cluster):
    """A fresh tenant namespace (`tenant-N`: the controller gives it a tenant-quota)."""
    with real_cluster.namespace("tenant") as name:
        yield name


def portal_objects(namespace: str, name: str, api_shape: str, *, gpu="H100") -> list[dict]:
    disks = (DiskSpec(name="data", size_gib=50, storage_class="replicated"),) if api_shape == "current" else ()
    spec = VmSpec(
        name=name,
        team="alpha",
        instance_type="g1.large",
        gpu_model=gpu,
        image="ubuntu",
        system_disk_gib=50,
        system_disk_class="replicated",
        disks=disks,
        public_ports=(22,),
    )
    return render_manifests(spec, catalogue=CATALOGUE, namespace=namespace, vm_id=7, api_shape=api_shape)


def apply(apps, objects):
    for obj in objects:
        apps.create_namespaced_custom_object(
            GROUP, VERSION, obj["metadata"]["namespace"], PLURALS[obj["kind"]], obj, field_validation="Strict"
        )


def kubevirt_status(apps, namespace, name):
    try:
        vm = apps.get_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines", name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return (vm.get("status") or {}).get("printableStatus")


def tenant_quota(admin_api, namespace):
    quotas = (
        client.CoreV1Api(admin_api)
        .list_namespaced_resource_quota(namespace, field_selector="metadata.name=tenant-quota")
        .items
    )
    return quotas[0] if quotas else None


def leftovers(admin_api, namespace) -> dict:
    apps, core = client.CustomObjectsApi(admin_api), client.CoreV1Api(admin_api)
    found = {
        "virtualmachines": apps.list_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines"),
        "datavolumes": apps.list_namespaced_custom_object("cdi.kubevirt.io", "v1beta1", namespace, "datavolumes"),
    }
    names = {plural: [item["metadata"]["name"] for item in listing["items"]] for plural, listing in found.items()}
    names["services"] = [service.metadata.name for service in core.list_namespaced_service(namespace).items]
    names["pods"] = [pod.metadata.name for pod in core.list_namespaced_pod(namespace).items]
    return {kind: items for kind, items in names.items() if items}


@pytest.mark.parametrize(
    ("api_shape", "app_kind", "release"),
    [("current", "VMInstance", "vm-instance-train"), ("legacy", "VirtualMachine", "virtual-machine-train")],
)
def test_a_vm_the_portal_renders_runs_with_the_upstream_children_and_goes_with_its_app(
    controller, admin_api, tenant, api_shape, app_kind, release
):
    apps = client.CustomObjectsApi(admin_api)
    objects = portal_objects(tenant, "train", api_shape)

    apply(apps, objects)
    eventually(lambda: kubevirt_status(apps, tenant, release) == "Running", message=f"{release} to run")

    check_children(admin_api, tenant, app_kind, "train")
    for disk in [obj for obj in objects if obj["kind"] == "VMDisk"]:
        check_children(admin_api, tenant, "VMDisk", disk["metadata"]["name"])
    # The controller writes the tenant-quota, the real quota controller counts the virt-launcher pod's GPU.
    quota = eventually(
        lambda: (
            (q := tenant_quota(admin_api, tenant))
            and q.status
            and (q.status.used or {}).get(f"requests.{H100}") == "1"
            and q
        ),
        message="the quota controller to count the GPU",
    )
    assert quota.spec.hard[f"requests.{H100}"] == "4"
    # The simulated in-guest exporter serves the running VM's GPU.
    assert {"namespace": tenant, "vm": "train", "gpus": [H100]}.items() <= next(
        guest for guest in controller.state()["controller"]["guests"] if guest["namespace"] == tenant
    ).items()
    with urllib.request.urlopen(f"{controller.exporter_url}/metrics/{tenant}/train", timeout=5) as response:
        assert b"DCGM_FI_DEV_GPU_UTIL" in response.read()

    for obj in reversed(objects):
        apps.delete_namespaced_custom_object(GROUP, VERSION, tenant, PLURALS[obj["kind"]], obj["metadata"]["name"])

    eventually(lambda: not leftovers(admin_api, tenant), message="the children to go")
    # The controller releases the app's finalizer once its children are gone: the app goes last.
    eventually(
        lambda: apps.list_namespaced_custom_object(GROUP, VERSION, tenant, PLURALS[app_kind])["items"] == [],
        message="the app object to go once its finalizer is released",
    )


def test_nodes_carry_the_gpu_inventory(controller, admin_api):
    nodes = eventually(lambda: client.CoreV1Api(admin_api).list_node().items, message="the nodes")

    allocatable = {node.metadata.name: (node.status.allocatable or {}).get(H100) for node in nodes}

    assert allocatable == {"node-1": "1", "node-2": "1", "node-3": "0"}


def test_a_full_tenant_quota_is_enforced_by_the_real_server(controller, admin_api, tenant):
    controller.tenant_quota(tenant, "H100=1")
    apps = client.CustomObjectsApi(admin_api)
    apply(apps, portal_objects(tenant, "first", "current"))
    eventually(lambda: kubevirt_status(apps, tenant, "vm-instance-first") == "Running", message="the first VM")

    apply(apps, portal_objects(tenant, "second", "current"))

    def refused():
        if kubevirt_status(apps, tenant, "vm-instance-second") is None:
            return None
        vm = apps.get_namespaced_custom_object("kubevirt.io", "v1", tenant, "virtualmachines", "vm-instance-second")
        return next((c for c in (vm.get("status") or {}).get("conditions") or [] if c["type"] == "Synchronized"), None)

    condition = eventually(refused, message="admission to refuse the second VM's pod")
    gpu = f"requests.{H100}"
    # The same words as the development cluster's own admission (tests/devcluster/test_fidelity.py).
    assert condition["message"].endswith(
        f"is forbidden: exceeded quota: tenant-quota, requested: {gpu}=1, used: {gpu}=1, limited: {gpu}=1"
    )
    assert kubevirt_status(apps, tenant, "vm-instance-second") == "Starting"


def test_the_controllers_switches_work_and_api_server_faults_are_refused(controller, admin_api, tenant):
    apps = client.CustomObjectsApi(admin_api)
    with pytest.raises(urllib.error.HTTPError) as refused:
        controller.faults(error_rate=0.5)
    controller.faults(paused=True)
    try:
        apply(apps, portal_objects(tenant, "frozen", "current")[:1])
        time.sleep(1)  # ten passes, had the controller been running
        frozen = apps.get_namespaced_custom_object(GROUP, VERSION, tenant, "vmdisks", "frozen-os")
    finally:
        controller.faults(paused=False)

    assert refused.value.code == 400
    assert b"error_rate" in refused.value.read()
    assert "status" not in frozen and "finalizers" not in frozen["metadata"]
    eventually(
        lambda: (
            apps.get_namespaced_custom_object(GROUP, VERSION, tenant, "vmdisks", "frozen-os").get("status") or {}
        ).get("conditions"),
        message="the controller to resume",
    )
