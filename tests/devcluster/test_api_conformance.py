"""The development cluster answers the official `kubernetes` client like a real API server."""

import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.devcluster.conftest import GROUP, TENANT_A_TOKEN, VERSION, vm_disk

DISKS = {"group": GROUP, "version": VERSION, "plural": "vmdisks"}
INSTANCES = {"group": GROUP, "version": VERSION, "plural": "vminstances"}


@pytest.fixture(autouse=True)
def quiet_controller(devcluster):
    """The controller writes status and finalizers too; these tests look at API semantics alone."""
    devcluster.faults(paused=True)


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def test_create_sets_server_metadata(apps):
    created = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    metadata = created["metadata"]
    assert metadata["namespace"] == "tenant-a"
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert int(metadata["resourceVersion"]) > 0
    assert metadata["generation"] == 1
    assert created["kind"] == "VMDisk" and created["apiVersion"] == f"{GROUP}/{VERSION}"


def test_unauthenticated_requests_get_401(devcluster):
    anonymous = client.CustomObjectsApi(devcluster.api_client("not-a-token"))

    with pytest.raises(ApiException) as error:
        anonymous.list_namespaced_custom_object(namespace="tenant-a", **DISKS)

    assert error.value.status == 401
    assert status_of(error.value)["reason"] == "Unauthorized"


def test_get_missing_object_is_404_not_found(apps):
    with pytest.raises(ApiException) as error:
        apps.get_namespaced_custom_object(namespace="tenant-a", name="nope", **INSTANCES)

    status = status_of(error.value)
    assert error.value.status == 404
    assert status["reason"] == "NotFound"
    assert status["message"] == 'vminstances.apps.cozystack.io "nope" not found'
    assert status["details"] == {"name": "nope", "group": GROUP, "kind": "vminstances"}


def test_creating_twice_is_409_already_exists(apps):
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    assert error.value.status == 409
    assert status_of(error.value)["reason"] == "AlreadyExists"


def test_creating_in_a_missing_namespace_is_404(apps):
    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace="tenant-zz", body=vm_disk("boot"), **DISKS)

    assert error.value.status == 404
    assert status_of(error.value)["message"] == 'namespaces "tenant-zz" not found'


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Boot_Disk", "a lowercase RFC 1035 label"),
        ("1disk", "a lowercase RFC 1035 label"),
        ("d" * 46, "must be no more than 45 characters"),
    ],
)
def test_invalid_disk_names_are_422(apps, name, expected):
    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk(name), **DISKS)

    status = status_of(error.value)
    assert error.value.status == 422
    assert status["reason"] == "Invalid"
    assert expected in status["message"]
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_instance_names_are_limited_to_41_characters(apps):
    body = {"metadata": {"name": "v" * 42}, "spec": {}}

    with pytest.raises(ApiException) as error:
        apps.create_namespaced_custom_object(namespace="tenant-a", body=body, **INSTANCES)
    accepted = apps.create_namespaced_custom_object(
        namespace="tenant-a", body={"metadata": {"name": "v" * 41}}, **INSTANCES
    )

    assert error.value.status == 422
    assert "must be no more than 41 characters" in status_of(error.value)["message"]
    assert accepted["metadata"]["name"] == "v" * 41


def test_update_with_stale_resource_version_is_409_conflict(apps):
    created = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)
    first = dict(created, spec={**created["spec"], "storage": "30Gi"})
    apps.replace_namespaced_custom_object(namespace="tenant-a", name="boot", body=first, **DISKS)
    stale = dict(created, spec={**created["spec"], "storage": "40Gi"})

    with pytest.raises(ApiException) as error:
        apps.replace_namespaced_custom_object(namespace="tenant-a", name="boot", body=stale, **DISKS)

    status = status_of(error.value)
    assert error.value.status == 409
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    current = apps.get_namespaced_custom_object(namespace="tenant-a", name="boot", **DISKS)
    assert current["spec"]["storage"] == "30Gi"
    assert current["metadata"]["generation"] == 2


def test_update_without_resource_version_is_invalid(apps):
    created = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)
    del created["metadata"]["resourceVersion"]

    with pytest.raises(ApiException) as error:
        apps.replace_namespaced_custom_object(namespace="tenant-a", name="boot", body=created, **DISKS)

    assert error.value.status == 422


def test_merge_patch_changes_only_what_it_names(apps):
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot", labels={"team": "a"}), **DISKS)

    patched = apps.patch_namespaced_custom_object(
        namespace="tenant-a",
        name="boot",
        body={"metadata": {"labels": {"tier": "gold", "team": None}}, "spec": {"storage": "50Gi"}},
        _content_type="application/merge-patch+json",
        **DISKS,
    )

    assert patched["metadata"]["labels"] == {"tier": "gold"}
    assert patched["spec"]["storage"] == "50Gi"
    assert patched["spec"]["source"] == {"image": {"name": "ubuntu"}}
    assert patched["metadata"]["generation"] == 2


def test_merge_patch_with_stale_resource_version_conflicts(apps):
    created = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)
    apps.patch_namespaced_custom_object(
        namespace="tenant-a",
        name="boot",
        body={"spec": {"storage": "6Gi"}},
        _content_type="application/merge-patch+json",
        **DISKS,
    )

    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_custom_object(
            namespace="tenant-a",
            name="boot",
            _content_type="application/merge-patch+json",
            body={"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "spec": {"storage": "7Gi"}},
            **DISKS,
        )

    assert error.value.status == 409


def test_json_patch_list_bodies_are_applied(apps):
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    patched = apps.patch_namespaced_custom_object(
        namespace="tenant-a",
        name="boot",
        body=[{"op": "replace", "path": "/spec/storage", "value": "9Gi"}],
        _content_type="application/json-patch+json",
        **DISKS,
    )

    assert patched["spec"]["storage"] == "9Gi"


def test_clients_cannot_write_status(apps):
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    patched = apps.patch_namespaced_custom_object(
        namespace="tenant-a",
        name="boot",
        body={"status": {"conditions": [{"type": "Ready", "status": "True"}]}, "spec": {"optical": False}},
        _content_type="application/merge-patch+json",
        **DISKS,
    )

    # The controller is paused: any status here would be the client's, which the server drops.
    assert "status" not in patched
    assert patched["spec"]["optical"] is False


def test_label_selectors_filter_lists(apps):
    for name, labels in (("a1", {"team": "a", "tier": "gold"}), ("a2", {"team": "a"}), ("b1", {"team": "b"})):
        apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk(name, labels=labels), **DISKS)

    def names(**selectors):
        listing = apps.list_namespaced_custom_object(namespace="tenant-a", **selectors, **DISKS)
        return [item["metadata"]["name"] for item in listing["items"]]

    assert names(label_selector="team=a") == ["a1", "a2"]
    assert names(label_selector="team=a,tier=gold") == ["a1"]
    assert names(label_selector="team!=a") == ["b1"]
    assert names(label_selector="team in (b, c)") == ["b1"]
    assert names(label_selector="!tier") == ["a2", "b1"]
    assert names(field_selector="metadata.name=a2") == ["a2"]


def test_unsupported_field_selector_is_400(apps):
    with pytest.raises(ApiException) as error:
        apps.list_namespaced_custom_object(namespace="tenant-a", field_selector="spec.storage=5Gi", **DISKS)

    assert error.value.status == 400


def test_list_carries_a_resource_version_and_paginates(apps):
    for index in range(5):
        apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk(f"d{index}"), **DISKS)

    last_created = apps.get_namespaced_custom_object(namespace="tenant-a", name="d4", **DISKS)
    first = apps.list_namespaced_custom_object(namespace="tenant-a", limit=3, **DISKS)
    rest = apps.list_namespaced_custom_object(
        namespace="tenant-a", limit=3, _continue=first["metadata"]["continue"], **DISKS
    )

    # Nothing else writes while the controller is paused: the list is as of the last create.
    assert first["metadata"]["resourceVersion"] == last_created["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in first["items"] + rest["items"]] == ["d0", "d1", "d2", "d3", "d4"]
    assert "continue" not in rest["metadata"]


def test_tenant_token_is_scoped_to_its_namespaces(devcluster):
    tenant = client.CustomObjectsApi(devcluster.api_client(TENANT_A_TOKEN))
    tenant.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("boot"), **DISKS)

    with pytest.raises(ApiException) as error:
        tenant.list_namespaced_custom_object(namespace="tenant-b", **DISKS)
    with pytest.raises(ApiException) as cluster_wide:
        tenant.list_cluster_custom_object(**DISKS)

    assert len(tenant.list_namespaced_custom_object(namespace="tenant-a", **DISKS)["items"]) == 1
    assert error.value.status == 403
    status = status_of(error.value)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'vmdisks.apps.cozystack.io is forbidden: User "system:serviceaccount:tenant-a:portal" cannot list '
        'resource "vmdisks" in API group "apps.cozystack.io" in the namespace "tenant-b"'
    )
    assert cluster_wide.value.status == 403


def test_namespaces_can_be_created_and_listed(core):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="tenant-ml")))

    names = [ns.metadata.name for ns in core.list_namespace().items]

    assert names == ["tenant-a", "tenant-b", "tenant-ml"]
    assert core.read_namespace("tenant-ml").status.phase == "Active"


def test_controller_owned_kinds_are_read_only(devcluster, api):
    with pytest.raises(ApiException) as error:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            group="kubevirt.io",
            version="v1",
            plural="virtualmachines",
            namespace="tenant-a",
            body={"metadata": {"name": "sneaky"}},
        )

    assert error.value.status == 405


def watch_events(apps, count, **kwargs):
    events = []
    stream = watch.Watch().stream(
        apps.list_namespaced_custom_object, namespace="tenant-a", timeout_seconds=5, **DISKS, **kwargs
    )
    for event in stream:
        events.append((event["type"], event["object"]["metadata"]["name"], event["object"]))
        if len(events) == count:
            break
    return events


def test_watch_delivers_added_modified_deleted_in_order(apps, devcluster):
    start = apps.list_namespaced_custom_object(namespace="tenant-a", **DISKS)["metadata"]["resourceVersion"]

    def mutate():
        apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("w1"), **DISKS)
        apps.patch_namespaced_custom_object(
            namespace="tenant-a",
            name="w1",
            body={"spec": {"storage": "8Gi"}},
            _content_type="application/merge-patch+json",
            **DISKS,
        )
        apps.delete_namespaced_custom_object(namespace="tenant-a", name="w1", **DISKS)

    writer = threading.Timer(0.2, mutate)
    writer.start()
    events = watch_events(apps, 3, resource_version=start)
    writer.join()

    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    versions = [int(obj["metadata"]["resourceVersion"]) for _, _, obj in events]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert events[1][2]["spec"]["storage"] == "8Gi"


def test_watch_resumes_from_a_resource_version(apps, devcluster):
    first = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("r1"), **DISKS)
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("r2"), **DISKS)
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("r3"), **DISKS)

    events = watch_events(apps, 2, resource_version=first["metadata"]["resourceVersion"])

    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "r2"), ("ADDED", "r3")]


def test_watch_without_resource_version_starts_with_current_objects(apps, devcluster):
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("x1", labels={"k": "v"}), **DISKS)
    apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("x2"), **DISKS)

    events = watch_events(apps, 1, label_selector="k=v")

    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "x1")]


def test_watch_from_a_compacted_resource_version_is_410_expired(apps, devcluster):
    first = apps.create_namespaced_custom_object(namespace="tenant-a", body=vm_disk("old"), **DISKS)
    for index in range(210):  # the fixture keeps 200 events of history
        apps.patch_namespaced_custom_object(
            namespace="tenant-a",
            name="old",
            body={"spec": {"storage": f"{index}Gi"}},
            _content_type="application/merge-patch+json",
            **DISKS,
        )

    with pytest.raises(ApiException) as error:
        watch_events(apps, 1, resource_version=first["metadata"]["resourceVersion"])

    assert error.value.status == 410
    assert "Expired" in error.value.reason
