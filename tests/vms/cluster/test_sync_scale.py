"""The status sync at scale: one LIST per namespace and kind, no GET per VM, and a fixed number
of SQL queries once nothing changes, through the real kubernetes client over HTTP against a
server holding prepared lists (populating the dev cluster with 5,000 VMs would take minutes)."""

import time
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.list_server import ListServer, create_fleet, serve_fleet
from vms.cluster.gateway import (
    DATA_VOLUME,
    EVENT,
    KUBEVIRT_VM,
    NODE,
    RESOURCE_QUOTA,
    SERVICE,
    VM_DISK,
    VM_INSTANCE,
    ClusterGateway,
)
from vms.cluster.sync import sync_cluster
from vms.governance.capacity import CapacityReading, gpus_observed_by_model
from vms.models import GpuModel, OrphanObject, Team, TenantQuota

NAMESPACES = 50
KINDS = (VM_INSTANCE, VM_DISK, KUBEVIRT_VM, DATA_VOLUME, SERVICE, EVENT, RESOURCE_QUOTA)


def _expected_lists(namespaces: int) -> Counter:
    return Counter({("list", kind.plural): namespaces for kind in KINDS}) + Counter({("list", NODE.plural): 1})


@pytest.mark.django_db
def test_sync_of_5000_vms_lists_each_namespace_and_kind_once(tmp_path, make_user, settings):
    settings.CLUSTER_API_SHAPE = "current"
    owner = make_user("bench")
    with ListServer() as server:
        gateway = ClusterGateway.from_kubeconfig(str(server.write_kubeconfig(tmp_path / "kubeconfig")), timeout=30)

        serve_fleet(server, create_fleet(owner=owner, namespaces=NAMESPACES, vms_per_namespace=2))
        first = sync_cluster(gateway=gateway)
        assert (first.vms, first.updated, first.transitions) == (100, 100, 0)
        gateway.calls.clear()
        with CaptureQueriesContext(connection) as small:
            steady = sync_cluster(gateway=gateway)
        assert (steady.updated, steady.events) == (0, 0)
        assert gateway.calls == _expected_lists(NAMESPACES)

        serve_fleet(server, create_fleet(owner=owner, namespaces=NAMESPACES, vms_per_namespace=98, first=2))
        first = sync_cluster(gateway=gateway)
        assert (first.vms, first.updated) == (5000, 4900)
        # Running with an SSH line and a ready system disk: two events per newly seen VM.
        assert first.events == 2 * 4900
        gateway.calls.clear()
        server.requests.clear()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as big:
            steady = sync_cluster(gateway=gateway)
        elapsed = time.perf_counter() - started

    assert (steady.vms, steady.updated, steady.events, steady.transitions, steady.orphans) == (5000, 0, 0, 0, 0)
    assert gateway.calls == _expected_lists(NAMESPACES), "one LIST per namespace and kind, no GET"
    assert sum(server.requests.values()) == NAMESPACES * len(KINDS) + 1
    assert len(big) == len(small), "the sync's queries must not grow with the number of VMs"
    assert not OrphanObject.objects.exists()
    l40s = GpuModel.objects.get(slug="L40S")
    assert gpus_observed_by_model()[l40s.pk] == 5000
    assert TenantQuota.objects.count() == NAMESPACES
    team = Team.objects.get(name="bench-000")
    free = CapacityReading(team_ids=[team.pk]).free_gpus(team_id=team.pk, gpu_model_id=l40s.pk)
    # 100 of the team's 200 in its quota; 626 nodes of 8 for 5,000 held: the nodes bound it.
    assert (free.count, free.quota_left, free.nodes_free, free.estimate) == (8, 100, 8, False)
    assert elapsed < 15, f"one cycle over 5,000 VMs took {elapsed:.1f} s"
