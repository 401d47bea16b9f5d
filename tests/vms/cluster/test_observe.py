"""How the status sync reads one VM out of what a namespace holds, with the objects exactly as
Cozystack's charts render them: children carry the chart's labels, never the portal's."""

import pytest

from tests.vms.factories import make_vm
from vms.cluster.provisioning import _patch_changes
from vms.cluster.sync import NamespaceObjects, _status_events, observe_vm
from vms.models import Team

APP_CREATED = "2026-11-30T10:00:00Z"


def _app(kind, name, vm, created=APP_CREATED):
    return {
        "apiVersion": "apps.cozystack.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "labels": {"app.kubernetes.io/managed-by": "hikube-gpu-portal", "portal.hikube.cloud/vm-id": str(vm.pk)},
        },
        "spec": {"runStrategy": "Always"},
    }


def _chart_labels(chart, release):
    return {
        "helm.sh/chart": f"{chart}-0.1.0",
        "app.kubernetes.io/name": chart,
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "Helm",
    }


def _child(name, labels, status=None, created="2026-11-30T10:00:05Z"):
    child = {"metadata": {"name": name, "creationTimestamp": created, "labels": labels}}
    if status is not None:
        child["status"] = status
    return child


@pytest.fixture
def vm(db, make_user):
    team = Team.objects.create(name="alpha")
    return make_vm(
        team=team,
        owner=make_user("dana"),
        name="train",
        state="provisioning",
        public_ports=[22],
        disks=[{"name": "data", "size_gib": 50, "storage_class": "replicated"}],
    )


def _running_namespace(vm, *, kubevirt_created="2026-11-30T10:00:05Z"):
    objects = NamespaceObjects()
    objects.apps[("VMInstance", "train")] = _app("VMInstance", "train", vm)
    for vmdisk in ("train-os", "train-data"):
        objects.apps[("VMDisk", vmdisk)] = _app("VMDisk", vmdisk, vm)
        objects.data_volumes[f"vm-disk-{vmdisk}"] = _child(
            f"vm-disk-{vmdisk}",
            {"app.kubernetes.io/instance": f"vm-disk-{vmdisk}"},
            {"phase": "Succeeded", "progress": "100.0%"},
        )
    objects.kubevirt["vm-instance-train"] = _child(
        "vm-instance-train",
        _chart_labels("vm-instance", "vm-instance-train"),
        {"printableStatus": "Running"},
        created=kubevirt_created,
    )
    objects.services["vm-instance-train"] = _child(
        "vm-instance-train",
        {**_chart_labels("vm-instance", "vm-instance-train"), "apps.cozystack.io/user-service": "true"},
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
    )
    return objects


def test_children_are_found_by_name_without_the_portals_labels(vm):
    seen = observe_vm(vm, _running_namespace(vm))
    assert seen.missing == []
    assert seen.cluster_status == "Running"
    assert seen.external_ip == "203.0.113.7"
    assert seen.disk_status == {
        "os": {"phase": "Succeeded", "progress": "100.0%"},
        "data": {"phase": "Succeeded", "progress": "100.0%"},
    }


def test_a_namesakes_leftover_older_than_the_app_is_not_taken_for_this_vm(vm):
    """A deleted VM of the same name whose KubeVirt VM is still terminating must not make the
    new one look Running."""
    seen = observe_vm(vm, _running_namespace(vm, kubevirt_created="2026-11-30T09:59:00Z"))
    assert seen.cluster_status == ""


def test_children_without_their_app_object_are_not_this_vms(vm):
    objects = _running_namespace(vm)
    del objects.apps[("VMInstance", "train")]
    seen = observe_vm(vm, objects)
    assert seen.missing == ["VMInstance train"]
    assert (seen.cluster_status, seen.external_ip) == ("", None)


def test_objects_the_cluster_has_not_reported_on_yet_give_no_empty_timeline_line(vm):
    """A real API server creates a DataVolume or a KubeVirt VM with no status at all."""
    objects = _running_namespace(vm)
    for data_volume in objects.data_volumes.values():
        del data_volume["status"]
    del objects.kubevirt["vm-instance-train"]["status"]
    del objects.services["vm-instance-train"]["status"]
    seen = observe_vm(vm, objects)
    assert seen.disk_status == {}
    assert seen.cluster_status == ""
    assert _status_events(vm, seen) == []


def test_the_legacy_data_volume_is_found_by_name_with_no_label_at_all(vm):
    vm.api_shape = "legacy"
    vm.disks = []
    objects = NamespaceObjects()
    objects.apps[("VirtualMachine", "train")] = _app("VirtualMachine", "train", vm)
    objects.data_volumes["virtual-machine-train"] = _child(
        "virtual-machine-train", {}, {"phase": "ImportInProgress", "progress": "41.00%"}
    )
    seen = observe_vm(vm, objects)
    assert seen.disk_status == {"os": {"phase": "ImportInProgress", "progress": "41.00%"}}


def _failed_release(app, message):
    app["status"] = {
        "conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed", "message": message}]
    }


def test_a_release_waiting_for_a_disk_is_said_but_does_not_fail_the_vm(vm):
    """Flux renders the instance again once the disk's DataVolume exists."""
    objects = _running_namespace(vm)
    del objects.kubevirt["vm-instance-train"]
    message = (
        "Helm install failed for release tenant-alpha/vm-instance-train with chart vm-instance@0.1.0: "
        "execution error: Specified disk not exists in cluster: vm-disk-train-data"
    )
    _failed_release(objects.apps[("VMInstance", "train")], message)
    seen = observe_vm(vm, objects)
    assert seen.helm_failure == ""
    assert seen.status_message == message


def test_a_release_the_chart_refuses_for_good_fails_the_vm(vm):
    objects = _running_namespace(vm)
    message = "execution error: Specified instanceType does not exist in the cluster: g9.huge"
    _failed_release(objects.apps[("VMInstance", "train")], message)
    seen = observe_vm(vm, objects)
    assert seen.helm_failure == message
    assert seen.status_message == message


def test_an_adopted_object_whose_stored_spec_carries_the_schemas_defaults_is_not_patched_again():
    stored = {
        "runStrategy": "Always",
        "instanceType": "g1.large",
        "cloudInitSeed": "",
        "external": False,
        "systemDisk": {"image": "ubuntu", "storage": "50Gi", "storageClass": "replicated"},
    }
    assert not _patch_changes(stored, {"runStrategy": "Always", "systemDisk": {"image": "ubuntu"}})
    assert _patch_changes(stored, {"runStrategy": "Halted"})
    assert _patch_changes(stored, {"systemDisk": {"storage": "60Gi"}})
    assert _patch_changes(stored, {"gpus": [{"name": "nvidia.com/H100_94GB"}]})
