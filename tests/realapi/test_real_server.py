"""The real API server enforces what the portal's manifests and the development cluster assume:
the CRDs' schemas and CEL rules, the status subresource, RBAC, and the controllers' work."""

import functools
import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support import kube
from tests.support.processes import wait_until

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

GROUP, VERSION = "apps.cozystack.io", "v1alpha1"
INSTANCES = {"group": GROUP, "version": VERSION, "plural": "vminstances"}
KUBEVIRT_VMS = {"group": "kubevirt.io", "version": "v1", "plural": "virtualmachines"}
GPU = "requests.nvidia.com/H100_94GB"


def vm_instance(name, **spec):
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VMInstance", "metadata": {"name": name}, "spec": spec}


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


# The controllers work asynchronously, some on periodic resyncs.
eventually = functools.partial(wait_until, timeout=30.0)


@pytest.fixture
def apps(admin_api):
    return client.CustomObjectsApi(admin_api)


@pytest.fixture
def core(admin_api):
    return client.CoreV1Api(admin_api)


def test_the_crds_are_established(admin_api):
    crds = client.ApiextensionsV1Api(admin_api).list_custom_resource_definition().items

    established = {
        crd.metadata.name
        for crd in crds
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
    }
    assert established == {
        "vminstances.apps.cozystack.io",
        "vmdisks.apps.cozystack.io",
        "virtualmachines.apps.cozystack.io",
        "virtualmachines.kubevirt.io",
        "datavolumes.cdi.kubevirt.io",
    }


def test_a_status_sent_on_create_is_dropped(apps, namespace):
    body = vm_instance("gpu-box", runStrategy="Halted")
    body["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded"}]}

    created = apps.create_namespaced_custom_object(namespace=namespace, body=body, **INSTANCES)
    stored = apps.get_namespaced_custom_object(namespace=namespace, name="gpu-box", **INSTANCES)

    assert "status" not in created and "status" not in stored
    assert stored["spec"]["runStrategy"] == "Halted"


def test_the_status_subresource_writes_status_and_nothing_else(apps, namespace):
    apps.create_namespaced_custom_object(namespace=namespace, body=vm_instance("gpu-box"), **INSTANCES)

    apps.patch_namespaced_custom_object_status(
        namespace=namespace,
        name="gpu-box",
        body={"status": {"phase": "Ready"}, "spec": {"runStrategy": "Halted"}},
        **INSTANCES,
    )

    stored = apps.get_namespaced_custom_object(namespace=namespace, name="gpu-box", **INSTANCES)
    assert stored["status"] == {"phase": "Ready"}
    assert stored["spec"]["runStrategy"] == "Always"
    assert stored["metadata"]["generation"] == 1


def test_instance_names_over_41_characters_are_refused_by_the_crds_cel_rule(apps, namespace):
    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace=namespace, body=vm_instance("v" * 42), **INSTANCES)
    accepted = apps.create_namespaced_custom_object(namespace=namespace, body=vm_instance("v" * 41), **INSTANCES)

    status = status_of(error.value)
    assert error.value.status == 422
    assert status["reason"] == "Invalid"
    # A CEL rule on the root object names no field: "<nil>", where a built-in check names metadata.name.
    assert status["message"] == (
        f'VMInstance.apps.cozystack.io "{"v" * 42}" is invalid: '
        "<nil>: Invalid value: name must be no more than 41 characters"
    )
    assert accepted["metadata"]["name"] == "v" * 41


def test_unknown_spec_fields_are_refused_with_strict_field_validation_and_pruned_without(apps, namespace):
    # `systemDisk` is the 0.x VirtualMachine's key: a VMInstance has no such field.
    body = vm_instance("gpu-box", systemDisk={"image": "ubuntu"})

    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace=namespace, body=body, field_validation="Strict", **INSTANCES)
    created = apps.create_namespaced_custom_object(namespace=namespace, body=body, **INSTANCES)

    status = status_of(error.value)
    assert error.value.status == 400
    assert status["reason"] == "BadRequest"
    assert 'strict decoding error: unknown field "spec.systemDisk"' in status["message"]
    assert "systemDisk" not in created["spec"]
    # The schema's defaults fill in what was left out.
    assert created["spec"]["runStrategy"] == "Always" and created["spec"]["externalPorts"] == [22]


def test_the_tenant_is_confined_to_its_namespace(real_cluster, namespace):
    with real_cluster.namespace("elsewhere") as elsewhere:
        tenant_api = real_cluster.api_client(real_cluster.tenant_kubeconfig(namespace))
        tenant = client.CustomObjectsApi(tenant_api)
        created = tenant.create_namespaced_custom_object(namespace=namespace, body=vm_instance("mine"), **INSTANCES)

        with pytest.raises(ApiException) as other_namespace:
            tenant.list_namespaced_custom_object(namespace=elsewhere, **INSTANCES)
        with pytest.raises(ApiException) as nodes:
            client.CoreV1Api(tenant_api).list_node()
        with pytest.raises(ApiException) as kubevirt_write:
            tenant.create_namespaced_custom_object(
                namespace=namespace,
                body={"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "sneaky"}},
                **KUBEVIRT_VMS,
            )
        tenant_api.close()

    assert created["metadata"]["namespace"] == namespace
    assert other_namespace.value.status == 403
    assert status_of(other_namespace.value)["message"] == (
        f'vminstances.apps.cozystack.io is forbidden: User "{kube.TENANT_USERS[0]}" cannot list resource "vminstances" '
        f'in API group "apps.cozystack.io" in the namespace "{elsewhere}"'
    )
    assert nodes.value.status == 403
    assert status_of(nodes.value)["message"] == (
        f'nodes is forbidden: User "{kube.TENANT_USERS[0]}" cannot list resource "nodes" in API group "" '
        "at the cluster scope"
    )
    assert kubevirt_write.value.status == 403


def test_a_dependent_of_a_deleted_owner_is_garbage_collected(apps, namespace):
    owner = apps.create_namespaced_custom_object(namespace=namespace, body=vm_instance("gpu-box"), **INSTANCES)
    apps.create_namespaced_custom_object(
        namespace=namespace,
        **KUBEVIRT_VMS,
        body={
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {
                "name": "vm-instance-gpu-box",
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "VMInstance",
                        "name": "gpu-box",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"runStrategy": "Always"},
        },
    )

    apps.delete_namespaced_custom_object(namespace=namespace, name="gpu-box", **INSTANCES)

    def collected():
        try:
            apps.get_namespaced_custom_object(namespace=namespace, name="vm-instance-gpu-box", **KUBEVIRT_VMS)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(collected, message="the garbage collector to delete the KubeVirt VM")


def test_resource_quota_usage_is_computed_and_enforced(core, namespace):
    eventually(
        lambda: core.list_namespaced_service_account(namespace).items,
        message="the service account controller to create the default service account",
    )

    def pod(name, gpus):
        return {
            "metadata": {"name": name},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "main",
                        "image": "example.invalid/gpu",
                        "resources": {
                            "requests": {"nvidia.com/H100_94GB": gpus},
                            "limits": {"nvidia.com/H100_94GB": gpus},
                        },
                    }
                ],
            },
        }

    # The pod predates the quota: only the quota controller's own count can put it in status.used.
    core.create_namespaced_pod(namespace, pod("first", "1"))
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "tenant-quota"}, "spec": {"hard": {GPU: "2"}}}
    )

    def computed():
        return core.read_namespaced_resource_quota("tenant-quota", namespace).status.used

    used = eventually(computed, message="the quota controller to compute status.used")
    with pytest.raises(ApiException) as error:
        core.create_namespaced_pod(namespace, pod("second", "2"))

    assert used == {GPU: "1"}
    assert error.value.status == 403
    assert status_of(error.value)["message"] == (
        f'pods "second" is forbidden: exceeded quota: tenant-quota, requested: {GPU}=2, used: {GPU}=1, limited: {GPU}=2'
    )
