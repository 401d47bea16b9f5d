"""The status sync reads capacity over HTTP through the real kubernetes client: each team's
`tenant-quota` ResourceQuota (one LIST per namespace, by name) and the nodes' allocatable GPUs
(one LIST per cycle), and copes with an API that refuses either."""

import logging

import pytest
from django.core.cache import cache

from benchmarks.list_server import ListServer, gpu_node, running_vm_objects, tenant_quota
from tests.vms.factories import make_vm
from vms.cluster import sync
from vms.cluster.gateway import NODE, RESOURCE_QUOTA, ClusterGateway
from vms.governance.capacity import NOT_READABLE, CapacityReading
from vms.models import GpuAllocation, GpuModel, Team, TenantQuota, VirtualMachine

pytestmark = pytest.mark.django_db

H100, A100 = "nvidia.com/H100_94GB", "nvidia.com/GA100_A100_PCIE_80GB"


@pytest.fixture(autouse=True)
def _forget_refusals():
    """A 403 is remembered in the shared cache (Redis): each test starts without one."""
    keys = [sync.NODES_FORBIDDEN_KEY, *(f"{sync.QUOTA_FORBIDDEN_KEY}:tenant-{name}" for name in ("alpha", "beta"))]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def server():
    with ListServer() as server:
        yield server


@pytest.fixture
def gateway(server, tmp_path):
    gateway = ClusterGateway.from_kubeconfig(str(server.write_kubeconfig(tmp_path / "kubeconfig")), timeout=10)
    yield gateway
    gateway.api_client.close()


@pytest.fixture
def alpha(make_user):
    """A team with two running H100 VMs, served with their cluster objects."""
    team = Team.objects.create(name="alpha")
    owner = make_user("dana")
    for name in ("a-1", "a-2"):
        make_vm(
            team=team, owner=owner, name=name, gpu="H100", instance_type="g1.large", state="running", public_ports=[22]
        )
    return team


def serve_vms(server, team, *, quotas=()):
    """Serves the team's VMs as running, with these ResourceQuotas in its namespace."""
    objects: dict = {RESOURCE_QUOTA: list(quotas)}
    for index, vm in enumerate(VirtualMachine.objects.filter(team=team).select_related("team", "gpu_model")):
        for kind, items in running_vm_objects(
            vm, gpu_resource=vm.gpu_model.resource_name, ip=f"10.0.0.{index + 1}"
        ).items():
            objects.setdefault(kind, []).extend(items)
    server.serve(team.namespace, objects)


def free(team, slug="H100"):
    model = GpuModel.objects.get(slug=slug)
    return CapacityReading(team_ids=[team.pk]).free_gpus(team_id=team.pk, gpu_model_id=model.pk)


def test_the_tenant_quota_and_the_nodes_are_read_once_per_cycle_and_stored(server, gateway, alpha):
    beta = Team.objects.create(name="beta")  # no VM yet: its quota still matters to its first request
    serve_vms(
        server,
        alpha,
        quotas=[
            # Kubernetes takes the tightest key: the bare one leaves 1, requests. leaves 2.
            tenant_quota(
                hard={f"requests.{H100}": 4, H100: 3, "requests.cpu": 64},
                used={f"requests.{H100}": 2, H100: 2, "requests.cpu": 8},
            ),
            # Another quota in the namespace is not the tenant's: the LIST asks for tenant-quota by name.
            tenant_quota(name="team-extra", hard={f"requests.{H100}": 0}, used={f"requests.{H100}": 0}),
        ],
    )
    server.serve(
        beta.namespace, {RESOURCE_QUOTA: [tenant_quota(hard={f"requests.{A100}": 2}, used={f"requests.{A100}": 0})]}
    )
    server.serve(None, {NODE: [gpu_node("gpu-1", {H100: 4}), gpu_node("gpu-2", {H100: 4}), gpu_node("cpu-1", {})]})

    report = sync.sync_cluster(gateway=gateway)
    assert (report.namespaces, report.vms, report.failed_namespaces) == (2, 2, [])
    assert gateway.calls[("list", "resourcequotas")] == 2
    assert gateway.calls[("list", "nodes")] == 1
    assert gateway.calls[("list", "vminstances")] == 1  # beta, with no VM, gets its quota listed only
    assert sorted(TenantQuota.objects.values_list("team__name", "resource_name", "hard", "used")) == [
        ("alpha", H100, 3, 2),
        ("beta", A100, 2, 0),
    ]
    allocation = {row.resource_name: (row.allocated, row.allocatable) for row in GpuAllocation.objects.all()}
    assert allocation[H100] == (2, 8) and allocation[A100] == (0, 0)

    assert (free(alpha).count, free(alpha).quota_left, free(alpha).nodes_free) == (1, 1, 6)
    assert (free(beta, "A100").count, free(beta, "A100").quota_left) == (0, 2)  # no A100 node at all
    assert free(beta).count == 6  # no H100 in beta's quota: the nodes alone

    serve_vms(server, alpha)  # the tenant's quota was removed
    sync.sync_cluster(gateway=gateway)
    assert list(TenantQuota.objects.values_list("team__name", flat=True)) == ["beta"]
    assert free(alpha).count == 6


def test_a_403_on_nodes_does_not_break_the_sync_and_is_said_once(server, gateway, alpha, settings, caplog):
    settings.CLUSTER_READ_NODES = "auto"
    serve_vms(server, alpha)
    server.refuse(NODE)
    with caplog.at_level(logging.WARNING, logger="vms.cluster.sync"):
        reports = [sync.sync_cluster(gateway=gateway) for _ in range(3)]
    assert [(r.vms, r.failed_namespaces) for r in reports] == [(2, [])] * 3
    assert reports[0].updated == 2  # the VMs were synced all the same
    assert VirtualMachine.objects.filter(cluster_status="Running").count() == 2
    refusals = [r for r in caplog.records if "nodes are not readable" in r.getMessage()]
    assert [r.levelname for r in refusals] == ["WARNING"]
    assert "cannot list resource" in refusals[0].getMessage()
    assert gateway.calls[("list", "nodes")] == 1, "auto does not ask again after a 403"
    assert GpuAllocation.objects.get(resource_name=H100).allocatable is None
    assert GpuAllocation.objects.get(resource_name=H100).allocated == 2
    assert (free(alpha).count, free(alpha).estimate_reason) == (6, NOT_READABLE)

    # An hour later the permission has been granted: auto asks again and reads them.
    cache.delete(sync.NODES_FORBIDDEN_KEY)
    server.serve(None, {NODE: [gpu_node("gpu-1", {H100: 4})]})
    sync.sync_cluster(gateway=gateway)
    assert (free(alpha).count, free(alpha).estimate) == (2, False)


@pytest.mark.parametrize(("mode", "node_lists", "logged"), [("true", 3, ["ERROR"]), ("false", 0, [])])
def test_nodes_are_asked_for_every_cycle_or_never_as_configured(
    server, gateway, alpha, settings, caplog, mode, node_lists, logged
):
    settings.CLUSTER_READ_NODES = mode
    serve_vms(server, alpha)
    server.refuse(NODE)
    with caplog.at_level(logging.WARNING, logger="vms.cluster.sync"):
        for _ in range(3):
            assert sync.sync_cluster(gateway=gateway).failed_namespaces == []
    assert gateway.calls[("list", "nodes")] == node_lists
    assert [r.levelname for r in caplog.records if "nodes are not readable" in r.getMessage()] == logged
    assert GpuAllocation.objects.get(resource_name=H100).allocatable is None


def test_a_403_on_a_tenant_quota_leaves_its_namespace_synced(server, gateway, alpha, caplog):
    serve_vms(server, alpha)
    server.refuse(RESOURCE_QUOTA, alpha.namespace)
    server.serve(None, {NODE: [gpu_node("gpu-1", {H100: 8})]})
    with caplog.at_level(logging.WARNING, logger="vms.cluster.sync"):
        reports = [sync.sync_cluster(gateway=gateway) for _ in range(2)]
    assert [(r.vms, r.failed_namespaces) for r in reports] == [(2, [])] * 2
    assert VirtualMachine.objects.filter(cluster_status="Running").count() == 2
    assert not TenantQuota.objects.exists()
    assert len([r for r in caplog.records if "tenant-quota of tenant-alpha is not readable" in r.getMessage()]) == 1
    assert (free(alpha).count, free(alpha).quota_left) == (6, None)


def test_a_failed_node_list_keeps_the_last_complete_figures(server, gateway, alpha, caplog):
    serve_vms(server, alpha)
    server.serve(None, {NODE: [gpu_node("gpu-1", {H100: 8})]})
    sync.sync_cluster(gateway=gateway)
    observed_at = GpuAllocation.objects.get(resource_name=H100).observed_at

    server.refuse(NODE, status=503, reason="ServiceUnavailable", message="etcdserver: request timed out")
    with caplog.at_level(logging.WARNING, logger="vms.cluster.sync"):
        report = sync.sync_cluster(gateway=gateway)
    assert (report.vms, report.failed_namespaces) == (2, [])
    assert "cannot list nodes: etcdserver: request timed out" in caplog.text
    row = GpuAllocation.objects.get(resource_name=H100)
    assert (row.allocated, row.allocatable, row.observed_at) == (2, 8, observed_at)
    assert free(alpha).count == 6
