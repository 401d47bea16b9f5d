"""The status sync at scale: one LIST per namespace and kind, no GET per VM, and a fixed number
of SQL queries once nothing changes, through the real kubernetes client over HTTP against a
server holding prepared lists (populating the dev cluster with 5,000 VMs would take minutes)."""

import time
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.list_server import ListServer, create_fleet, serve_fleet
from vms.capacity import gpus_observed_by_model
from vms.cluster import DATA_VOLUME, EVENT, KUBEVIRT_VM, SERVICE, VM_DISK, VM_INSTANCE, ClusterGateway
from vms.models import GpuModel, OrphanObject
from vms.sync import sync_cluster

NAMESPACES = 50
KINDS = (VM_INSTANCE, VM_DISK, KUBEVIRT_VM, DATA_VOLUME, SERVICE, EVENT)


def _expected_lists(namespaces: int) -> Counter:
    return Counter({("list", kind.plural): namespaces for kind in KINDS})


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
    assert sum(server.requests.values()) == NAMESPACES * len(KINDS)
    assert len(big) == len(small), "the sync's queries must not grow with the number of VMs"
    assert not OrphanObject.objects.exists()
    assert gpus_observed_by_model()[GpuModel.objects.get(slug="L40S").pk] == 5000
    assert elapsed < 15, f"one cycle over 5,000 VMs took {elapsed:.1f} s"
