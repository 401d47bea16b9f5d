"""Celery tasks: load by id, call the provisioning function or the sync, retry what may succeed.

Every task is acknowledged only once it finished and re-queued if its worker dies (settings:
acks_late, reject_on_worker_lost), so each one may run twice; vms.cluster.provisioning makes that safe.
"""

import time

from celery import shared_task
from django.conf import settings

from hikube_portal import task_names
from vms.cluster import provisioning, sync
from vms.cluster.gateway import ClusterError, gateway

TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    # Retries are bounded by time (CLUSTER_RETRY_FOR_SECONDS), checked in _run.
    "max_retries": None,
}


def _run(task, operation, vm_id: int, first_attempt_at: float | None, **arguments) -> None:
    """Runs `operation`; a retryable failure tries again, with backoff, until
    CLUSTER_RETRY_FOR_SECONDS have passed since the first attempt (carried through the retries)."""
    first_attempt_at = first_attempt_at or time.time()
    try:
        operation(vm_id=vm_id, gateway=gateway(), **arguments)
    except ClusterError as exc:
        if exc.retryable and time.time() - first_attempt_at < settings.CLUSTER_RETRY_FOR_SECONDS:
            provisioning.work_touch(vm_id)
            raise task.retry(
                countdown=provisioning.backoff_seconds(task.request.retries),
                exc=exc,
                kwargs={"vm_id": vm_id, "first_attempt_at": first_attempt_at, **arguments},
            ) from exc
        provisioning.vm_fail(vm_id=vm_id, operation=operation, error=exc, attempts=task.request.retries + 1)


@shared_task(name=task_names.PROVISION_VM, **TASK_OPTIONS)
def provision_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.provision, vm_id, first_attempt_at)


@shared_task(name=task_names.START_VM, **TASK_OPTIONS)
def start_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.start, vm_id, first_attempt_at)


@shared_task(name=task_names.STOP_VM, **TASK_OPTIONS)
def stop_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.stop, vm_id, first_attempt_at)


@shared_task(name=task_names.RESTART_VM, **TASK_OPTIONS)
def restart_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.restart, vm_id, first_attempt_at)


@shared_task(name=task_names.POWER_CYCLE_VM, **TASK_OPTIONS)
def power_cycle_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.power_cycle, vm_id, first_attempt_at)


@shared_task(name=task_names.RESIZE_VM, **TASK_OPTIONS)
def resize_vm(self, vm_id: int, start_after: bool, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.resize, vm_id, first_attempt_at, start_after=start_after)


@shared_task(name=task_names.DELETE_VM, **TASK_OPTIONS)
def delete_vm(self, vm_id: int, first_attempt_at: float | None = None) -> None:
    _run(self, provisioning.delete, vm_id, first_attempt_at)


@shared_task(name=task_names.SYNC_CLUSTER, ignore_result=True)
def sync_cluster() -> None:
    sync.sync_cluster_locked(gateway=gateway())
