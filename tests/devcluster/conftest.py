import pytest
from kubernetes import client

from tests.support.devcluster import DevCluster

TENANT_A_TOKEN = "tenant-a-token"
TENANT_B_TOKEN = "tenant-b-token"
GROUP, VERSION = "apps.cozystack.io", "v1alpha1"


@pytest.fixture(scope="session")
def devcluster_process(tmp_path_factory):
    with DevCluster(
        tmp_path_factory.mktemp("devcluster"),
        gpus="H100=2,A100=4,L40S=1",
        namespaces=["tenant-a", "tenant-b"],
        tenant_tokens={TENANT_A_TOKEN: ["tenant-a"], TENANT_B_TOKEN: ["tenant-b"]},
        watch_history=200,
    ) as cluster:
        yield cluster


@pytest.fixture
def devcluster(devcluster_process):
    """The shared development cluster, emptied and without faults for each test."""
    devcluster_process.reset()
    yield devcluster_process


@pytest.fixture
def api(devcluster):
    api_client = devcluster.api_client()
    yield api_client
    api_client.close()


@pytest.fixture
def apps(api):
    return client.CustomObjectsApi(api)


@pytest.fixture
def core(api):
    return client.CoreV1Api(api)


def vm_disk(name, image="ubuntu", labels=None):
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VMDisk",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"source": {"image": {"name": image}}, "storage": "20Gi", "storageClass": "replicated"},
    }


def vm_instance(
    name,
    disks,
    gpus=(),
    instance_type="u1.medium",
    run_strategy="Always",
    external=False,
    labels=None,
    annotations=None,
):
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VMInstance",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {
            "runStrategy": run_strategy,
            "instanceType": instance_type,
            "instanceProfile": "ubuntu",
            "disks": [{"name": disk} for disk in disks],
            "gpus": [{"name": gpu} for gpu in gpus],
            "external": external,
            "externalMethod": "PortList",
            "externalPorts": [22],
        },
    }
