"""What the cluster does not do in time: an API server that is down for a while, a controller
that never confirms a change, a restart the cluster refuses. The VM converges or the page says
what is going on and offers a way forward; none of it fails a VM that could still make it."""

import time

from django.urls import reverse

from tests.support.processes import wait_until
from tests.vms.cluster.helpers import CURRENT_SET, cluster_objects, converge, new_vm, timeline
from vms.cluster import sync
from vms.governance import lifecycle
from vms.models import Membership, VirtualMachine

State = VirtualMachine.State
# What a provisioning task could spend retrying before the attempt count became a time budget:
# six attempts with the test's delays (0.05 s doubling, capped at 0.3 s) is under one second.
OLD_ATTEMPT_BUDGET_SECONDS = 0.05 + 0.1 + 0.2 + 0.3 + 0.3


def test_an_api_server_down_for_longer_than_the_old_attempt_budget_fails_no_vm(worker, gateway, cluster, team, owner):
    vm = new_vm(team=team, owner=owner)
    log_start = worker.log_path.stat().st_size
    cluster.stop()
    try:
        lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
        time.sleep(4 * OLD_ATTEMPT_BUDGET_SECONDS)
        with worker.log_path.open("rb") as log:
            log.seek(log_start)
            refused = log.read().count(b"The cluster API did not answer")
        assert refused > 6, "the task did not keep retrying while the API server was down"
        assert VirtualMachine.objects.get(pk=vm.pk).state == State.PROVISIONING
    finally:
        cluster.start()  # an empty store, as after a restart without etcd: the task creates everything

    vm = converge(gateway, vm.pk, State.RUNNING, timeout=30)
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET


def test_a_stop_the_cluster_never_confirms_is_flagged_with_its_last_words_and_a_retry(
    worker, gateway, cluster, team, owner, settings, client
):
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)
    settings.CLUSTER_CONFIRM_DEADLINE_SECONDS = 1.0
    Membership.objects.create(team=team, user=owner)
    client.force_login(owner)
    page = reverse("vm_detail", args=[vm.pk])

    cluster.faults(paused=True)
    lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
    assert "data-overdue" not in client.get(page).content.decode()
    time.sleep(1.2)
    sync.sync_cluster(gateway=gateway)
    html = client.get(page).content.decode()
    assert "Still stopping after" in html
    assert "data-last-words" in html
    vm = VirtualMachine.objects.get(pk=vm.pk)
    assert "retry" in lifecycle.available_actions(vm)
    asked_at = vm.state_changed_at

    response = client.post(reverse("vm_action", args=[vm.pk, "retry"]))
    assert response.status_code == 302
    vm = VirtualMachine.objects.get(pk=vm.pk)
    assert vm.state == State.STOPPING and vm.state_changed_at > asked_at
    assert "Asked the cluster again: it had not confirmed in time" in timeline(vm)
    assert "data-overdue" not in client.get(page).content.decode()
    # A second click on the stale page does not ask twice.
    client.post(reverse("vm_action", args=[vm.pk, "retry"]))
    assert (
        timeline(VirtualMachine.objects.get(pk=vm.pk)).count("Asked the cluster again: it had not confirmed in time")
        == 1
    )

    cluster.faults(paused=False)
    converge(gateway, vm.pk, State.STOPPED)


def test_a_refused_restart_is_explained_and_stop_then_start_restarts_the_vm(
    worker, gateway, cluster, team, owner, client
):
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)
    # A cluster whose API server does not serve KubeVirt's subresources answers 404 there, as a
    # tenant token without the right answers 403; the development cluster refuses an unknown VM.
    VirtualMachine.objects.filter(pk=vm.pk).update(name="no-such-vm")
    lifecycle.vm_restart(vm_id=vm.pk, actor=owner)
    refusal = (
        "The cluster refused the restart (HTTP 404): it does not let the portal use KubeVirt's restart. "
        "Stop and start the VM instead."
    )
    wait_until(lambda: refusal in timeline(VirtualMachine.objects.get(pk=vm.pk)), message="the refusal")
    VirtualMachine.objects.filter(pk=vm.pk).update(name=vm.name)
    assert VirtualMachine.objects.get(pk=vm.pk).state == State.RUNNING

    Membership.objects.create(team=team, user=owner)
    client.force_login(owner)
    html = client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "data-restart-refused" in html
    assert reverse("vm_action", args=[vm.pk, "power_cycle"]) in html
    assert reverse("vm_action", args=[vm.pk, "restart"]) not in html

    client.post(reverse("vm_action", args=[vm.pk, "power_cycle"]))
    vm = converge(gateway, vm.pk, State.RUNNING)
    states = [event.data.get("state") for event in vm.events.order_by("created_at", "id") if event.kind == "state"]
    assert states[-4:] == ["stopping", "stopped", "starting", "running"]
    assert "data-restart-refused" not in client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
