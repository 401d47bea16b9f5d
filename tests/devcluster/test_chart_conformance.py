"""The children of each app kind, their names and exact labels (tests/support/children.py),
checked against the reference (children.md, beside this file) and against what the development
cluster renders. Where the reference and the development cluster disagree, the development
cluster is wrong."""

import pytest
from kubernetes.client.rest import ApiException

from tests.devcluster.conftest import GROUP, VERSION, vm_disk, vm_instance
from tests.support.children import CHILDREN, NOT_RENDERED, REFERENCE, check_children, reference_labels, reference_names
from tests.support.processes import wait_until

NS = "tenant-a"
PORTAL_LABELS = {"portal.hikube.cloud/vm-id": "42", "app.kubernetes.io/managed-by": "hikube-gpu-portal"}


def test_the_table_gives_each_child_the_labels_of_the_reference():
    rows = reference_labels(REFERENCE.read_text())

    assert {child.reference_row for children in CHILDREN.values() for child in children} == set(rows)
    for children in CHILDREN.values():
        for child in children:
            row = rows[child.reference_row]
            assert row["labels"] == child.labels, child.reference_row
            assert row["annotations"] == child.annotations, child.reference_row
            assert row["selector"] == (set(child.selector) if child.selector else None), child.reference_row
            assert child.pod_template == ("KubeVirt VM" in child.reference_row), child.reference_row


def test_the_table_names_the_children_of_the_reference():
    names = reference_names(REFERENCE.read_text())

    assert set(names) == set(CHILDREN)
    for app_kind, children in CHILDREN.items():
        listed = {(kind, name) for kind, name in names[app_kind] if kind not in NOT_RENDERED}
        assert listed == {(child.kind, child.name) for child in children}, app_kind


def test_a_reference_that_says_otherwise_is_noticed():
    changed = REFERENCE.read_text().replace(
        "`app.kubernetes.io/managed-by: Helm`", "`app.kubernetes.io/managed-by: Flux`"
    )

    rows = reference_labels(changed)

    assert rows["Service of a VMInstance"]["labels"]["app.kubernetes.io/managed-by"] == "Flux"
    assert rows["KubeVirt VM of a 0.x VirtualMachine"]["labels"] != CHILDREN["VirtualMachine"][0].labels


def legacy_vm(name):
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": PORTAL_LABELS},
        "spec": {
            "running": True,
            "instanceType": "u1.medium",
            "instanceProfile": "ubuntu",
            "external": True,
            "externalPorts": [22],
            "systemDisk": {"image": "ubuntu", "storage": "20Gi", "storageClass": "replicated"},
        },
    }


@pytest.mark.parametrize("app_kind", list(CHILDREN))
def test_the_development_cluster_renders_what_the_table_says(app_kind, apps, api):
    if app_kind == "VMDisk":
        apps.create_namespaced_custom_object(GROUP, VERSION, NS, "vmdisks", vm_disk("boot", labels=PORTAL_LABELS))
        name, ready = "boot", ("cdi.kubevirt.io", "v1beta1", "datavolumes", "vm-disk-boot")
    elif app_kind == "VMInstance":
        apps.create_namespaced_custom_object(GROUP, VERSION, NS, "vmdisks", vm_disk("web-os", labels=PORTAL_LABELS))
        apps.create_namespaced_custom_object(
            GROUP, VERSION, NS, "vminstances", vm_instance("web", ["web-os"], external=True, labels=PORTAL_LABELS)
        )
        name, ready = "web", ("kubevirt.io", "v1", "virtualmachines", "vm-instance-web")
    else:
        apps.create_namespaced_custom_object(GROUP, VERSION, NS, "virtualmachines", legacy_vm("old"))
        name, ready = "old", ("kubevirt.io", "v1", "virtualmachines", "virtual-machine-old")

    def settled():
        try:
            status = apps.get_namespaced_custom_object(ready[0], ready[1], NS, ready[2], ready[3]).get("status") or {}
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return status.get("phase") == "Succeeded" or status.get("printableStatus") == "Running"

    wait_until(settled, message=f"the children of {app_kind} {name}")

    children = check_children(api, NS, app_kind, name)
    assert len(children) == len(CHILDREN[app_kind])
    if app_kind == "VirtualMachine":
        owner = children[2]["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "VirtualMachine",
            "virtual-machine-old",
            children[0]["metadata"]["uid"],
        )
