"""Faults on the way to a running VM: API errors, timeouts, conflicts, duplicate and lost
deliveries, a killed worker, a restarted Redis. After each, exactly one set of objects exists
on the cluster, the portal's state matches it, and no request is lost."""

import subprocess
import threading
import time

import pytest
from django.db import connection

from tests.support.processes import free_port, stop, wait_until
from tests.support.worker import Worker, database_url
from tests.vms.cluster.helpers import CURRENT_SET, cluster_objects, converge, new_vm, timeline
from vms.cluster import provisioning, tasks
from vms.governance import lifecycle
from vms.models import VirtualMachine

State = VirtualMachine.State


def test_server_errors_are_retried_with_backoff_until_the_vm_runs(worker, gateway, cluster, team, owner):
    vm = new_vm(team=team, owner=owner)
    cluster.faults(error_rate=1.0)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    wait_until(lambda: worker.log_path.read_text().count("injected by devcluster") >= 2, message="two failed attempts")
    cluster.faults(error_rate=0.0)

    vm = converge(gateway, vm.pk, State.RUNNING)
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET


def test_a_cluster_that_keeps_failing_fails_the_vm_in_its_words_and_retry_resumes(
    worker, gateway, cluster, team, owner
):
    vm = new_vm(team=team, owner=owner)
    cluster.faults(error_rate=1.0)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    wait_until(
        lambda: VirtualMachine.objects.get(pk=vm.pk).state == State.FAILED,
        timeout=20,
        message="the VM to fail once CLUSTER_RETRY_FOR_SECONDS have passed",
    )
    vm = VirtualMachine.objects.get(pk=vm.pk)
    assert vm.failure_message == "Internal error occurred: injected by devcluster (error_rate)"
    assert vm.failure_retryable
    assert lifecycle.available_actions(vm) == {"delete", "retry"}

    cluster.faults(error_rate=0.0)
    lifecycle.vm_retry(vm_id=vm.pk, actor=owner)
    vm = converge(gateway, vm.pk, State.RUNNING)
    assert vm.failure_message == ""
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET


def test_timeouts_whose_requests_still_land_are_adopted(worker, gateway, cluster, team, owner):
    """A create that times out on the client may still happen on the server: the next attempt
    is answered 409 AlreadyExists and adopts the object, since its labels say it is this VM's."""
    vm = new_vm(team=team, owner=owner)
    cluster.faults(latency_ms=2500)  # the worker gives up after CLUSTER_TIMEOUT_SECONDS = 2
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    wait_until(lambda: "did not answer" in worker.log_path.read_text(), message="a timed-out call")
    time.sleep(1.0)
    cluster.faults(latency_ms=0)

    vm = converge(gateway, vm.pk, State.RUNNING)
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET


def test_conflicts_on_power_changes_are_retried(worker, gateway, cluster, team, owner):
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    converge(gateway, vm.pk, State.RUNNING)

    cluster.faults(conflict_rate=1.0)
    lifecycle.vm_stop(vm_id=vm.pk, actor=owner)
    wait_until(lambda: "the object has been modified" in worker.log_path.read_text(), message="a 409 Conflict")
    cluster.faults(conflict_rate=0.0)
    converge(gateway, vm.pk, State.STOPPED)


def test_duplicate_and_concurrent_deliveries_create_one_set_of_objects(worker, gateway, cluster, team, owner):
    vm = new_vm(team=team, owner=owner)
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    tasks.provision_vm.delay(vm.pk)
    tasks.provision_vm.delay(vm.pk)
    # And one more in this process, at the same time as the worker's.
    errors = []

    def provision_here():
        try:
            provisioning.provision(vm_id=vm.pk, gateway=gateway)
        except Exception as error:  # a thread's exception is otherwise lost: reported below
            errors.append(error)
        finally:
            connection.close()

    local = threading.Thread(target=provision_here)
    local.start()
    local.join(timeout=30)
    assert not local.is_alive()
    assert errors == []

    converge(gateway, vm.pk, State.RUNNING)
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET

    lifecycle.vm_delete(vm_id=vm.pk, actor=owner)
    tasks.delete_vm.delay(vm.pk)
    converge(gateway, vm.pk, State.DELETED)
    assert cluster_objects(gateway, "tenant-alpha") == []
    assert [e.data["state"] for e in vm.events.filter(kind="state").order_by("id")] == [
        "provisioning",
        "running",
        "deleting",
        "deleted",
    ]


def test_a_worker_killed_mid_provision_loses_nothing(worker, gateway, cluster, team, owner):
    vm = new_vm(team=team, owner=owner)
    cluster.faults(paused=True)  # the disks never get their DataVolumes: the task waits
    lifecycle.vm_provision(vm_id=vm.pk, actor=owner)
    wait_until(lambda: len(cluster_objects(gateway, "tenant-alpha", vm.pk)) == 2, message="the disks to be created")
    worker.kill()
    cluster.faults(paused=False)
    worker.start()

    # The message is still unacknowledged in Redis (re-delivered after the visibility timeout);
    # the sync sees the work went stale meanwhile and enqueues it again at once.
    vm = converge(gateway, vm.pk, State.RUNNING, timeout=30)
    assert cluster_objects(gateway, "tenant-alpha") == CURRENT_SET
    assert timeline(vm).count("Provisioning") == 1


class ThrowawayRedis:
    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ),
            message="redis to start",
        )

    def stop(self):
        stop(self.process)


@pytest.fixture
def use_broker():
    """Points this process's Celery producer at another broker for the test."""
    from hikube_portal.celery import app

    original = app.conf.broker_url

    def switch(url):
        app.conf.broker_url = url
        # Drop the cached connection and producer pools so the next send uses the new URL.
        app._pool = None
        app.amqp._producer_pool = None

    yield switch
    switch(original)


def test_a_redis_restart_loses_no_request(transactional_db, cluster, gateway, team, owner, tmp_path, use_broker):
    redis = ThrowawayRedis(tmp_path)
    redis.start()
    use_broker(redis.url)
    worker = Worker(
        database_url=database_url(), redis_url=redis.url, kubeconfig=cluster.kubeconfig, log_name="prov-worker-redis"
    )
    worker.start()
    try:
        first = new_vm(team=team, owner=owner, name="train-1")
        second = new_vm(team=team, owner=owner, name="train-2")
        cluster.faults(paused=True)
        lifecycle.vm_provision(vm_id=first.pk, actor=owner)
        wait_until(lambda: len(cluster_objects(gateway, "tenant-alpha", first.pk)) == 2, message="the first VM's disks")

        redis.stop()  # the in-flight message is gone with it (no persistence)
        lifecycle.vm_provision(vm_id=second.pk, actor=owner)  # cannot be enqueued: Redis is down
        redis.start()
        cluster.faults(paused=False)

        converge(gateway, first.pk, State.RUNNING, timeout=40)
        converge(gateway, second.pk, State.RUNNING, timeout=40)
    finally:
        worker.stop()
        redis.stop()
    for vm in (first, second):
        assert len(cluster_objects(gateway, "tenant-alpha", vm.pk)) == 6
