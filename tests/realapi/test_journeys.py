"""The portal's journeys on a real kube-apiserver: a real Celery worker and the portal's status
sync drive the VMs through the official client with a tenant's credentials, and the development
cluster's controller (`python -m devcluster --controller-only`) plays the charts, CDI, KubeVirt
and the scheduler on the same server with admin credentials. What the real server refuses
(unknown fields, names too long, status on create) or does on its own (garbage collection,
quota usage) is therefore what the portal meets on a real platform."""

import contextlib
import threading
import time
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse
from kubernetes import client

from tests.support import kube
from tests.support.devcluster import DevController
from tests.support.processes import wait_until
from tests.support.worker import FAST_CLUSTER_SETTINGS, Worker, database_url
from tests.vms.cluster.helpers import converge, new_vm, timeline
from vms.cluster import sync
from vms.cluster.gateway import VM_DISK, ClusterError, ClusterGateway
from vms.cluster.sync import NODES_FORBIDDEN_KEY
from vms.governance import lifecycle
from vms.models import Membership, Team, VirtualMachine
from vms.render.vm_record import vm_object_names
from vms.spec.request import API_SHAPE_LEGACY, API_SHAPES

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

State = VirtualMachine.State
TEAMS = 12
# Long enough for an API server restart (a few seconds) inside one task's retries.
RETRY_FOR_SECONDS = 60
CHILD_KINDS = {
    "kubevirt VMs": ("kubevirt.io", "v1", "virtualmachines"),
    "data volumes": ("cdi.kubevirt.io", "v1beta1", "datavolumes"),
}


@pytest.fixture(scope="module")
def tenant_namespaces(real_cluster):
    """Namespaces `tenant-journey-N` for the module's teams (one per test), and the kubeconfig
    the portal uses in them, as Cozystack gives a tenant's service account."""
    with contextlib.ExitStack() as stack:
        names = [stack.enter_context(real_cluster.namespace("tenant-journey")) for _ in range(TEAMS)]
        yield iter(names), real_cluster.tenant_kubeconfig(*names)


@pytest.fixture(scope="module")
def controller(real_cluster, tmp_path_factory):
    with DevController(
        tmp_path_factory.mktemp("journey-controller"),
        kubeconfig=real_cluster.admin_kubeconfig,
        gpus="H100=1,A100=8,L40S=8",
    ) as controller:
        yield controller


@pytest.fixture(scope="module")
def journey_worker(tenant_namespaces, controller, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url()
    _, kubeconfig = tenant_namespaces
    worker = Worker(
        database_url=url, redis_url=django_settings.REDIS_URL, kubeconfig=kubeconfig, log_name="realapi-worker"
    )
    worker.env["CLUSTER_RETRY_FOR_SECONDS"] = str(RETRY_FOR_SECONDS)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def portal_settings(settings, tenant_namespaces):
    _, kubeconfig = tenant_namespaces
    settings.CLUSTER_KUBECONFIG = str(kubeconfig)
    for name, value in FAST_CLUSTER_SETTINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    settings.CLUSTER_RETRY_FOR_SECONDS = RETRY_FOR_SECONDS
    return settings


@pytest.fixture
def worker(journey_worker, transactional_db, portal_settings):
    from hikube_portal.celery import app

    app.control.purge()
    yield journey_worker
    app.control.purge()


@pytest.fixture
def gateway(tenant_namespaces):
    _, kubeconfig = tenant_namespaces
    gateway = ClusterGateway.from_kubeconfig(str(kubeconfig), timeout=5)
    yield gateway
    gateway.api_client.close()
    # The tenant may not read nodes here; the sync remembers that in the cache, which other
    # modules' clusters share.
    cache.delete(NODES_FORBIDDEN_KEY)


@pytest.fixture
def team(transactional_db, tenant_namespaces):
    namespaces, _ = tenant_namespaces
    return Team.objects.create(name=next(namespaces).removeprefix("tenant-"))


@pytest.fixture
def owner(transactional_db, make_user):
    return make_user("dana")


@pytest.fixture
def custom(admin_api):
    return client.CustomObjectsApi(admin_api)


def children_left(admin_api, namespace: str) -> dict[str, list[str]]:
    """What the charts and KubeVirt rendered that is still in `namespace`, by kind."""
    custom = client.CustomObjectsApi(admin_api)
    left = {
        label: [
            item["metadata"]["name"]
            for item in custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
        ]
        for label, (group, version, plural) in CHILD_KINDS.items()
    }
    core = client.CoreV1Api(admin_api)
    left["services"] = [service.metadata.name for service in core.list_namespaced_service(namespace).items]
    left["pods"] = [pod.metadata.name for pod in core.list_namespaced_pod(namespace).items]
    return {label: names for label, names in left.items() if names}


@pytest.mark.parametrize("api_shape", API_SHAPES)
def test_a_vm_is_requested_runs_stops_starts_and_is_deleted_on_the_real_server(
    worker, gateway, team, owner, admin_api, custom, api_shape
):
    vm = new_vm(team=team, owner=owner, api_shape=api_shape)

    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.RUNNING, timeout=60)
    assert vm.cluster_status == "Running"
    assert vm.external_ip, "the Service's load-balancer address never reached the portal"
    assert vm.disk_status and all(status["phase"] == "Succeeded" for status in vm.disk_status.values())
    # The portal's labels stay on the app objects it wrote; the children carry only the charts'.
    kubevirt_vm = custom.get_namespaced_custom_object(
        "kubevirt.io", "v1", team.namespace, "virtualmachines", vm_object_names(vm).kubevirt_vm
    )
    assert not any(label.startswith("portal.hikube.cloud/") for label in kubevirt_vm["metadata"]["labels"])

    lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
    assert converge(gateway, vm.pk, State.STOPPED, timeout=30).cluster_status == "Stopped"
    lifecycle.vm_start(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING, timeout=30)

    lifecycle.vm_delete(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.DELETED, timeout=60)
    wait_until(
        lambda: not children_left(admin_api, team.namespace),
        timeout=30,
        message=f"the children to be removed from {team.namespace}",
    )
    assert not custom.list_namespaced_custom_object("apps.cozystack.io", "v1alpha1", team.namespace, "vmdisks")["items"]


def test_a_request_waits_for_a_free_gpu_and_runs_once_one_is_released(worker, gateway, team, owner):
    holder = new_vm(team=team, owner=owner, name="holder", gpu="H100")
    lifecycle.vm_provision(vm_id=holder.pk, actor=owner)
    converge(gateway, holder.pk, State.RUNNING, timeout=60)

    waiter = new_vm(team=team, owner=owner, name="waiter", gpu="H100")
    lifecycle.vm_provision(vm_id=waiter.pk, actor=owner)

    def waiting() -> bool:
        sync.sync_cluster(gateway=gateway)
        return "No free H100" in VirtualMachine.objects.get(pk=waiter.pk).status_message

    wait_until(waiting, timeout=60, message="the second request to wait for an H100")
    assert VirtualMachine.objects.get(pk=waiter.pk).state == State.PROVISIONING

    lifecycle.vm_delete(vm_id=holder.pk, actor=owner)
    converge(gateway, holder.pk, State.DELETED, timeout=60)
    converge(gateway, waiter.pk, State.RUNNING, timeout=60)


def test_the_status_sync_lists_each_kind_once_per_namespace_on_the_real_server(worker, gateway, team, owner):
    vms = [new_vm(team=team, owner=owner, name="a-1"), new_vm(team=team, owner=owner, name="a-2")]
    for vm in vms:
        lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    for vm in vms:
        converge(gateway, vm.pk, State.RUNNING, timeout=60)

    gateway.calls.clear()
    report = sync.sync_cluster(gateway=gateway)
    assert (report.vms, report.failed_namespaces) == (2, [])
    plurals = ["vminstances", "vmdisks", "datavolumes", "services", "events", "resourcequotas"]
    expected = Counter({("list", plural): 1 for plural in plurals})
    expected[("list", "virtualmachines")] = 1  # only the KubeVirt VMs: no VM here has the 0.x shape
    # Nodes are not listed: the tenant's role does not grant them, and the earlier cycles' 403 is
    # remembered rather than asked again every cycle.
    assert gateway.calls == expected
    assert report.namespaces == 1


def test_an_api_server_restart_during_provisioning_fails_no_vm(worker, gateway, team, owner, real_cluster):
    vm = new_vm(team=team, owner=owner)
    log_start = worker.log_path.stat().st_size
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    with real_cluster.api_server_down():
        time.sleep(3)
        with worker.log_path.open("rb") as log:
            log.seek(log_start)
            assert b"The cluster API did not answer" in log.read(), "the task never met the stopped server"
        assert VirtualMachine.objects.get(pk=vm.pk).state == State.PROVISIONING
    vm = converge(gateway, vm.pk, State.RUNNING, timeout=60)
    assert vm.failure_message == ""


def test_a_restart_the_real_server_refuses_is_explained_and_stop_then_start_offered(
    worker, gateway, team, owner, client
):
    # KubeVirt's subresources are an aggregated API that a bare API server does not serve: a real 404.
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING, timeout=60)
    Membership.objects.create(team=team, user=owner)
    client.force_login(owner)

    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    wait_until(
        lambda: VirtualMachine.objects.get(pk=vm.pk).events.filter(data__restart="refused").exists(),
        timeout=30,
        message="the refused restart to be recorded",
    )
    html = client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "data-restart-refused" in html
    assert "HTTP 404" in " ".join(timeline(VirtualMachine.objects.get(pk=vm.pk)))

    lifecycle.vm_power_cycle(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.RUNNING, timeout=60)
    states = [event.data.get("state") for event in vm.events.order_by("created_at", "id") if event.kind == "state"]
    assert states[-2:] == ["starting", "running"]


def test_a_stop_the_0x_chart_ignores_is_flagged_overdue_with_a_retry(
    worker, gateway, team, owner, controller, portal_settings
):
    vm = new_vm(team=team, owner=owner, api_shape=API_SHAPE_LEGACY)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING, timeout=60)
    portal_settings.CLUSTER_CONFIRM_DEADLINE_SECONDS = 1.0
    controller.faults(legacy_running_ignored=True)
    try:
        lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
        time.sleep(1.5)
        sync.sync_cluster(gateway=gateway)
        vm = VirtualMachine.objects.get(pk=vm.pk)
        assert vm.state == State.STOPPING, "the 0.x chart kept the VM running: the stop cannot be confirmed"
        assert lifecycle.confirmation_overdue(vm)
        assert "retry" in lifecycle.available_actions(vm)
    finally:
        controller.faults(legacy_running_ignored=False)


def test_a_403_from_an_api_server_still_starting_is_retryable_and_a_real_one_is_final(real_cluster, gateway, team):
    """A kube-apiserver answers 403 to everything for a moment after it starts, before its RBAC
    caches are loaded: a VM whose task met that moment failed for good until the gateway told the
    two apart (it asks /readyz when refused)."""
    with pytest.raises(ClusterError) as refused:
        gateway.list(VM_DISK, "kube-system")  # outside the tenant's namespaces
    assert (refused.value.status, refused.value.retryable) == (403, False)

    answers, done = [], threading.Event()

    def keep_asking():
        while not done.is_set():
            try:
                gateway.list(VM_DISK, team.namespace)
                answers.append("ok")
            except ClusterError as exc:
                answers.append(exc)
            time.sleep(0.01)

    asker = threading.Thread(target=keep_asking)
    with real_cluster.api_server_down():
        asker.start()
    time.sleep(0.2)
    done.set()
    asker.join()
    errors = [answer for answer in answers if isinstance(answer, ClusterError)]
    assert errors and answers[-1] == "ok"
    assert [error.message for error in errors if not error.retryable] == []
    assert any(error.reason == "NotReady" for error in errors), "the start-up 403s were not seen"
