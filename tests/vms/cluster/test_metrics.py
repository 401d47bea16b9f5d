"""What the status sync and the cluster gateway report to the portal's metrics."""

from kubernetes import client as k8s_client
from prometheus_client import REGISTRY

from tests.support.processes import free_port
from vms.cluster import sync
from vms.cluster.gateway import VM_INSTANCE, ClusterError, ClusterGateway


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sync_cycle_reports_its_duration_and_its_list_calls(gateway, team):
    cycles = value("portal_sync_cycle_duration_seconds_count")

    sync.sync_cluster_locked(gateway=gateway)

    assert value("portal_sync_cycle_duration_seconds_count") == cycles + 1
    listed = sum(count for (verb, _), count in gateway.calls.items() if verb == "list")
    assert listed > 0
    assert value("portal_sync_cycle_list_calls") == listed
    assert value("portal_sync_cycle_failed_namespaces") == 0


def test_cluster_errors_are_counted_by_reason(gateway, cluster):
    not_found = value("portal_cluster_errors_total", reason="NotFound")
    unreachable = value("portal_cluster_errors_total", reason="Unreachable")

    assert gateway.delete(VM_INSTANCE, "tenant-alpha", "no-such-vm") is False  # a 404 answered, counted
    configuration = k8s_client.Configuration()
    configuration.host = f"http://127.0.0.1:{free_port()}"
    silent = ClusterGateway(k8s_client.ApiClient(configuration), timeout=1)
    try:
        silent.list(VM_INSTANCE, "tenant-alpha")
    except ClusterError as error:
        assert error.retryable
    else:
        raise AssertionError("a closed port answered")

    assert value("portal_cluster_errors_total", reason="NotFound") == not_found + 1
    assert value("portal_cluster_errors_total", reason="Unreachable") == unreachable + 1
