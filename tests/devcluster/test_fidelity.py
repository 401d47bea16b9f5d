"""The development cluster behaves like the platform (children.md): the status subresource,
releases that fail then succeed as Flux retries, the 0.x `running` quirk and the pod label
switches, nodes with GPUs, and a tenant-quota whose status.used follows the running VMs."""

import json
import time
import urllib.error

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.devcluster.conftest import GROUP, TENANT_A_TOKEN, VERSION, vm_disk
from tests.devcluster.test_controller import (
    DISKS,
    INSTANCES,
    KUBEVIRT_VMS,
    LEGACY,
    Recorder,
    condition,
    create_vm,
    get,
    printable_status,
    wait_status,
)
from tests.support.processes import wait_until

NS = "tenant-a"
H100 = "nvidia.com/H100_94GB"
QUOTA_KEY = f"requests.{H100}"
APPLICATION_LABELS = (
    "apps.cozystack.io/application.group",
    "apps.cozystack.io/application.kind",
    "apps.cozystack.io/application.name",
)


def pods_of(core, vm_name):
    return core.list_namespaced_pod(NS, label_selector=f"vm.kubevirt.io/name={vm_name}").items


# -- the status subresource -----------------------------------------------------------------------------------


def test_status_sent_on_create_or_update_is_dropped_and_the_subresource_writes_only_status(apps, devcluster):
    devcluster.faults(paused=True)
    body = vm_disk("boot")
    body["status"] = {"phase": "Succeeded"}

    created = apps.create_namespaced_custom_object(namespace=NS, body=body, **DISKS)
    written = apps.patch_namespaced_custom_object_status(
        namespace=NS, name="boot", body={"status": {"phase": "Pending"}, "spec": {"storage": "99Gi"}}, **DISKS
    )
    replaced = apps.replace_namespaced_custom_object(
        namespace=NS,
        name="boot",
        body={**written, "spec": {**written["spec"], "storage": "30Gi"}, "status": {"phase": "Failed"}},
        **DISKS,
    )

    assert "status" not in created
    assert written["status"] == {"phase": "Pending"} and written["spec"]["storage"] == "20Gi"
    assert written["metadata"]["generation"] == 1
    assert replaced["status"] == {"phase": "Pending"} and replaced["spec"]["storage"] == "30Gi"
    assert replaced["metadata"]["generation"] == 2


def test_a_tenant_may_not_write_status(devcluster):
    tenant = client.CustomObjectsApi(devcluster.api_client(TENANT_A_TOKEN))
    devcluster.faults(paused=True)
    tenant.create_namespaced_custom_object(namespace=NS, body=vm_disk("boot"), **DISKS)

    with pytest.raises(ApiException) as error:
        tenant.patch_namespaced_custom_object_status(
            namespace=NS, name="boot", body={"status": {"phase": "x"}}, **DISKS
        )

    assert error.value.status == 403
    assert 'cannot patch resource "vmdisks/status"' in json.loads(error.value.body)["message"]


def test_children_appear_without_status_until_their_controller_writes_one(apps):
    recorder = Recorder(apps, KUBEVIRT_VMS)
    create_vm(apps, "fresh")

    wait_status(apps, "vm-instance-fresh", "Running")
    recorder.stop()

    first_type, first = recorder.events[0]
    assert (first_type, first["metadata"]["name"]) == ("ADDED", "vm-instance-fresh")
    assert "status" not in first
    assert first["metadata"]["generation"] == 1
    assert first["metadata"]["finalizers"] == ["kubevirt.io/virtualMachineControllerFinalize"]


# -- releases fail, then succeed once the cause is gone -----------------------------------------------------------


def test_a_release_with_an_unknown_instance_type_succeeds_once_it_is_fixed(apps):
    create_vm(apps, "typo", instance_type="u1.mediun")
    failed = wait_until(lambda: (c := condition(get(apps, INSTANCES, "typo"), "Ready")).get("status") == "False" and c)
    assert failed["reason"] == "InstallFailed"
    assert failed["message"].endswith("Specified instanceType does not exist in the cluster: u1.mediun")
    assert get(apps, KUBEVIRT_VMS, "vm-instance-typo") is None

    apps.patch_namespaced_custom_object(
        namespace=NS, name="typo", body={"spec": {"instanceType": "u1.medium"}}, **INSTANCES
    )

    wait_status(apps, "vm-instance-typo", "Running")
    assert condition(get(apps, INSTANCES, "typo"), "Ready")["reason"] == "UpgradeSucceeded"


# -- switches ---------------------------------------------------------------------------------------------------


def legacy(name, running=True):
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {
            "running": running,
            "instanceType": "u1.medium",
            "instanceProfile": "ubuntu",
            "systemDisk": {"image": "ubuntu", "storage": "20Gi", "storageClass": "replicated"},
        },
    }


@pytest.mark.parametrize(("ignored", "expected"), [(False, "Stopped"), (True, "Running")])
def test_the_legacy_running_quirk_keeps_the_vm_as_it_was(apps, devcluster, ignored, expected):
    devcluster.faults(legacy_running_ignored=ignored)
    apps.create_namespaced_custom_object(namespace=NS, body=legacy("old"), **LEGACY)
    wait_status(apps, "virtual-machine-old", "Running")

    apps.patch_namespaced_custom_object(namespace=NS, name="old", body={"spec": {"running": False}}, **LEGACY)
    wait_until(lambda: condition(get(apps, LEGACY, "old"), "Ready").get("reason") == "UpgradeSucceeded")
    time.sleep(0.2)  # dozens of passes: any stop would have begun

    if expected == "Stopped":
        wait_status(apps, "virtual-machine-old", "Stopped")
    assert printable_status(apps, "virtual-machine-old") == expected
    assert get(apps, KUBEVIRT_VMS, "virtual-machine-old")["spec"]["runStrategy"] == ("Always" if ignored else "Halted")


@pytest.mark.parametrize("switched_on", [False, True])
def test_pods_carry_the_application_labels_only_behind_their_switch(apps, core, devcluster, switched_on):
    devcluster.faults(pod_application_labels=switched_on)
    create_vm(apps, "labelled")
    wait_status(apps, "vm-instance-labelled", "Running")

    labels = pods_of(core, "vm-instance-labelled")[0].metadata.labels

    if switched_on:
        assert {key: labels.get(key) for key in APPLICATION_LABELS} == {
            "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.kind": "VMInstance",
            "apps.cozystack.io/application.name": "labelled",
        }
    else:
        assert not set(APPLICATION_LABELS) & set(labels)


def test_switches_are_refused_unless_true_or_false(devcluster):
    with pytest.raises(urllib.error.HTTPError) as error:
        devcluster.faults(legacy_running_ignored="yes")

    assert error.value.code == 400
    assert devcluster.state()["faults"]["legacy_running_ignored"] is False


# -- nodes and the tenant quota --------------------------------------------------------------------------------


def test_nodes_offer_the_gpu_inventory(core, devcluster):
    nodes = core.list_node().items

    assert [node.metadata.name for node in nodes] == ["node-1", "node-2", "node-3"]
    # The shared cluster has H100=2,A100=4,L40S=1, spread over the nodes.
    assert [node.status.allocatable.get(H100) for node in nodes] == ["1", "1", "0"]
    totals = {
        resource: sum(int(node.status.allocatable.get(resource, 0)) for node in nodes)
        for resource in (H100, "nvidia.com/GA100_A100_PCIE_80GB", "nvidia.com/AD102GL_L40S")
    }
    assert totals == {H100: 2, "nvidia.com/GA100_A100_PCIE_80GB": 4, "nvidia.com/AD102GL_L40S": 1}
    assert all(node.status.capacity == node.status.allocatable for node in nodes)
    assert all(c.type == "Ready" and c.status == "True" for node in nodes for c in node.status.conditions)


def test_nodes_are_forbidden_to_a_tenant(devcluster):
    with pytest.raises(ApiException) as error:
        client.CoreV1Api(devcluster.api_client(TENANT_A_TOKEN)).list_node()

    assert error.value.status == 403
    assert json.loads(error.value.body)["message"] == (
        'nodes is forbidden: User "system:serviceaccount:tenant-a:portal" cannot list resource "nodes" in API group "" '
        "at the cluster scope"
    )


def used_h100(core, namespace=NS):
    quota = core.read_namespaced_resource_quota("tenant-quota", namespace)
    return quota.status.used[QUOTA_KEY] if quota.status and quota.status.used else None


def test_the_tenant_quota_counts_what_running_vms_request(apps, core):
    quota = core.read_namespaced_resource_quota("tenant-quota", NS)
    assert quota.spec.hard == {
        QUOTA_KEY: "4",
        "requests.nvidia.com/GA100_A100_PCIE_80GB": "8",
        "requests.nvidia.com/AD102GL_L40S": "2",
    }
    assert quota.status.hard == quota.spec.hard and used_h100(core) == "0"

    create_vm(apps, "holder", gpus=[H100])
    wait_status(apps, "vm-instance-holder", "Running")
    assert used_h100(core) == "1"

    apps.patch_namespaced_custom_object(
        namespace=NS, name="holder", body={"spec": {"runStrategy": "Halted"}}, **INSTANCES
    )
    wait_status(apps, "vm-instance-holder", "Stopped")
    assert used_h100(core) == "0"


def test_a_full_tenant_quota_refuses_the_pod_and_the_vm_waits(apps, core, devcluster):
    devcluster.tenant_quota(NS, "H100=1")
    assert core.read_namespaced_resource_quota("tenant-quota", NS).spec.hard[QUOTA_KEY] == "1"
    create_vm(apps, "first", gpus=[H100])
    wait_status(apps, "vm-instance-first", "Running")

    create_vm(apps, "second", gpus=[H100])
    refused = wait_until(
        lambda: condition(get(apps, KUBEVIRT_VMS, "vm-instance-second"), "Synchronized"),
        message="the pod of the second VM to be refused",
    )

    assert printable_status(apps, "vm-instance-second") == "Starting"
    assert refused["message"].startswith('pods "virt-launcher-vm-instance-second-')
    assert refused["message"].endswith(
        f"is forbidden: exceeded quota: tenant-quota, requested: {QUOTA_KEY}=1, "
        f"used: {QUOTA_KEY}=1, limited: {QUOTA_KEY}=1"
    )
    assert pods_of(core, "vm-instance-second") == []
    assert devcluster.state()["controller"]["gpus"][H100]["free"] == 1

    apps.delete_namespaced_custom_object(namespace=NS, name="first", **INSTANCES)
    wait_status(apps, "vm-instance-second", "Running")
    assert condition(get(apps, KUBEVIRT_VMS, "vm-instance-second"), "Synchronized") == {}


def test_a_namespace_that_is_no_tenants_has_no_quota(core):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="monitoring")))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="tenant-new")))

    wait_until(lambda: core.list_namespaced_resource_quota("tenant-new").items)

    assert core.list_namespaced_resource_quota("monitoring").items == []
