"""The status sync against the development cluster over HTTP: GPU exhaustion, drift, orphans,
failures in the cluster's words, and one LIST per namespace and kind."""

import io
import time
from collections import Counter

import pytest

from tests.vms.cluster.helpers import cluster_objects, converge, new_vm, timeline
from vms import errors
from vms.cluster import sync
from vms.cluster.gateway import LEGACY_VIRTUAL_MACHINE, VM_DISK, VM_INSTANCE
from vms.errors import InvalidTransition
from vms.governance import capacity, lifecycle
from vms.models import GpuModel, InstanceType, VirtualMachine

State = VirtualMachine.State


def test_a_vm_waits_for_a_free_gpu_and_starts_once_one_is_released(worker, gateway, team, owner):
    h100 = GpuModel.objects.get(slug="H100")
    holder = new_vm(team=team, owner=owner, name="holder", gpu="H100", instance_type="g2.large")  # both H100s
    waiter = new_vm(team=team, owner=owner, name="waiter", gpu="H100", instance_type="g1.large")
    lifecycle.vm_provision(vm_id=holder.pk, actor=owner)
    converge(gateway, holder.pk, State.RUNNING)
    assert capacity.gpus_observed_by_model()[h100.pk] == 2

    lifecycle.vm_provision(vm_id=waiter.pk, actor=owner)
    message = "No free H100 right now: waiting for one to be released"
    deadline_vm = None
    for _ in range(200):
        sync.sync_cluster(gateway=gateway)
        deadline_vm = VirtualMachine.objects.get(pk=waiter.pk)
        if deadline_vm.status_message == message:
            break
    assert deadline_vm.state == State.PROVISIONING
    assert deadline_vm.cluster_status == "ErrorUnschedulable"
    assert message in timeline(deadline_vm)

    lifecycle.vm_delete(vm_id=holder.pk, actor=owner)
    converge(gateway, holder.pk, State.DELETED)
    waiter = converge(gateway, waiter.pk, State.RUNNING)
    assert waiter.status_message == ""
    assert capacity.gpus_observed_by_model()[h100.pk] == 1


@pytest.mark.parametrize("policy", ["fail", "recreate"])
def test_a_running_vm_whose_objects_vanished_is_failed_or_recreated(worker, gateway, team, owner, settings, policy):
    settings.CLUSTER_DRIFT_POLICY = policy
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)

    gateway.delete(VM_INSTANCE, "tenant-alpha", vm.name)
    gateway.delete(VM_DISK, "tenant-alpha", f"{vm.name}-data")
    # Their finalizers keep them a moment while KubeVirt stops the VM.
    for _ in range(200):
        if gateway.get(VM_DISK, "tenant-alpha", f"{vm.name}-data") is None:
            break
        time.sleep(0.05)
    if policy == "fail":
        vm = converge(gateway, vm.pk, State.FAILED)
        assert vm.failure_message == "Gone from the cluster: VMInstance train-1, VMDisk train-1-data"
        assert "retry" in lifecycle.available_actions(vm)
        lifecycle.vm_retry(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.RUNNING)
    states = [e.data["state"] for e in vm.events.filter(kind="state").order_by("id")]
    assert states[-3:] == ["failed", "provisioning", "running"]
    assert len(cluster_objects(gateway, "tenant-alpha", vm.pk)) == 6


@pytest.mark.parametrize("policy", ["fail", "recreate"])
def test_a_stopped_vm_whose_objects_vanished_waits_failed_for_a_retry(worker, gateway, team, owner, settings, policy):
    settings.CLUSTER_DRIFT_POLICY = policy
    vm = new_vm(team=team, owner=owner, api_shape="legacy")
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)
    lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.STOPPED)

    gateway.delete(LEGACY_VIRTUAL_MACHINE, "tenant-alpha", vm.name)
    for _ in range(200):
        if gateway.get(LEGACY_VIRTUAL_MACHINE, "tenant-alpha", vm.name) is None:
            break
        time.sleep(0.05)
    vm = converge(gateway, vm.pk, State.FAILED)
    assert vm.failure_message == f"Gone from the cluster: VirtualMachine {vm.name}"
    assert cluster_objects(gateway, "tenant-alpha", vm.pk) == []
    lifecycle.vm_retry(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)


def test_objects_with_the_portals_labels_that_no_vm_claims_are_listed(transactional_db, cluster, gateway, team, owner):
    vm = new_vm(team=team, owner=owner, state="deleted")
    stray = {
        "apiVersion": "apps.cozystack.io/v1alpha1",
        "kind": "VMDisk",
        "metadata": {
            "name": "leftover-os",
            "namespace": "tenant-alpha",
            "labels": {"app.kubernetes.io/managed-by": "hikube-gpu-portal", "portal.hikube.cloud/vm-id": str(vm.pk)},
        },
        "spec": {"source": {}, "storage": "5Gi", "storageClass": "replicated"},
    }
    gateway.create(stray)
    gateway.create({**stray, "metadata": {**stray["metadata"], "name": "unlabelled", "labels": {}}})

    report = sync.sync_cluster(gateway=gateway)
    assert report.orphans == 1
    assert [(o.namespace, o.kind, o.name, o.vm_id_label) for o in sync.orphans()] == [
        ("tenant-alpha", "VMDisk", "leftover-os", str(vm.pk))
    ]

    gateway.delete(VM_DISK, "tenant-alpha", "leftover-os")
    # Apps objects carry a finalizer: the disk lingers (terminating) until the controller lets go.
    deadline = time.monotonic() + 10
    while gateway.get(VM_DISK, "tenant-alpha", "leftover-os") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    sync.sync_cluster(gateway=gateway)
    assert not sync.orphans().exists()


def test_a_helm_render_error_fails_the_vm_in_the_clusters_words(worker, gateway, team, owner):
    InstanceType.objects.create(name="g1.custom", vcpu=4, ram_gib=16, gpu_count=1)
    vm = new_vm(team=team, owner=owner, instance_type="g1.custom")
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.FAILED)
    assert "Specified instanceType does not exist in the cluster: g1.custom" in vm.failure_message
    assert not vm.failure_retryable
    assert lifecycle.available_actions(vm) == {"delete"}
    lifecycle.vm_delete(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.DELETED)
    assert cluster_objects(gateway, "tenant-alpha") == []


def test_the_sync_lists_each_namespace_and_kind_once_over_http(worker, gateway, team, other_team, owner):
    vms = [
        new_vm(team=team, owner=owner, name="a-1"),
        new_vm(team=team, owner=owner, name="a-2"),
        new_vm(team=other_team, owner=owner, name="b-1", api_shape="legacy"),
    ]
    for vm in vms:
        lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    for vm in vms:
        converge(gateway, vm.pk, State.RUNNING)

    gateway.calls.clear()
    report = sync.sync_cluster(gateway=gateway)
    assert (report.namespaces, report.vms, report.failed_namespaces) == (2, 3, [])
    # Both API shapes are in use, so the apps kinds of both are listed.
    plurals = ["vminstances", "vmdisks", "virtualmachines", "datavolumes", "services", "events", "resourcequotas"]
    expected = Counter({("list", plural): 2 for plural in plurals})
    expected[("list", "virtualmachines")] = 4  # the apps and the KubeVirt VirtualMachines
    expected[("list", "nodes")] = 1  # once per cycle, cluster-wide
    assert gateway.calls == expected


def test_actions_the_state_does_not_allow_are_refused(transactional_db, team, owner):
    vm = new_vm(team=team, owner=owner, state="stopped")
    for action in (lifecycle.vm_stop, lifecycle.vm_restart, lifecycle.vm_provision, lifecycle.vm_retry):
        with pytest.raises(InvalidTransition):
            action(vm_id=vm.pk, actor=owner)
    with pytest.raises(errors.ResizeRefused, match="keeps the GPU count"):
        lifecycle.vm_resize(vm_id=vm.pk, actor=owner, instance_type_id=InstanceType.objects.get(name="g2.large").pk)
    queued = new_vm(team=team, owner=owner, name="queued")
    assert lifecycle.vm_delete(vm_id=queued.pk, actor=owner).state == State.DELETED
    assert lifecycle.available_actions(vm) == {"start", "resize", "delete"}


def test_sync_command_creates_missing_team_namespaces_and_syncs(transactional_db, cluster, gateway, owner):
    from django.core.management import call_command

    from vms.cluster.gateway import NAMESPACE
    from vms.models import Team

    Team.objects.create(name="gamma")
    new_vm(team=Team.objects.get(name="gamma"), owner=owner, state="stopped")
    out = io.StringIO()
    call_command("sync_cluster", "--ensure-namespaces", stdout=out)
    assert gateway.get(NAMESPACE, None, "tenant-gamma") is not None
    assert out.getvalue().startswith("1 namespace(s), 1 VM(s)")


def test_development_clusters_get_a_new_teams_namespace_on_first_provisioning(cluster, gateway, owner, settings):
    from vms.cluster import provisioning
    from vms.cluster.gateway import NAMESPACE, ClusterError
    from vms.models import Team

    team = Team.objects.create(name="gamma")
    vm = new_vm(team=team, owner=owner, state="provisioning")
    settings.CLUSTER_CREATE_NAMESPACES = False
    with pytest.raises(ClusterError, match='namespaces "tenant-gamma" not found') as error:
        provisioning.provision(vm_id=vm.pk, gateway=gateway)
    assert not error.value.retryable

    settings.CLUSTER_CREATE_NAMESPACES = True
    provisioning.provision(vm_id=vm.pk, gateway=gateway)
    assert gateway.get(NAMESPACE, "", "tenant-gamma") is not None
    assert ("VMInstance", vm.name) in cluster_objects(gateway, "tenant-gamma", vm.pk)
