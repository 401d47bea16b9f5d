"""The Celery task names: the contract between whoever enqueues work (services, the status sync,
the admin), the beat schedule and the workers.

Messages already queued in Redis carry these strings, so they must not change when a task's
module moves: every task declares its name (`@shared_task(name=...)`) instead of deriving it from
its module. The values are the module paths the tasks had when the names were frozen.
`tests/portal/test_task_names.py` checks that the worker registers exactly these.
"""

# Cluster work on one VM (vms.cluster.tasks), each with `vm_id` (resize also `start_after`).
PROVISION_VM = "vms.tasks.provision_vm"
START_VM = "vms.tasks.start_vm"
STOP_VM = "vms.tasks.stop_vm"
RESTART_VM = "vms.tasks.restart_vm"
POWER_CYCLE_VM = "vms.tasks.power_cycle_vm"
RESIZE_VM = "vms.tasks.resize_vm"
DELETE_VM = "vms.tasks.delete_vm"
# Periodic (beat) and on-commit governance work.
SYNC_CLUSTER = "vms.tasks.sync_cluster"
ADVANCE_WAITLIST = "vms.approval_tasks.advance_waitlist"
NOTIFY_REQUESTER = "vms.approval_tasks.notify_requester"
NOTIFY_CHANGE_DECISION = "vms.approval_tasks.notify_change_decision"
NOTIFY_APPROVERS = "vms.approval_tasks.notify_approvers"
REMIND_APPROVERS = "vms.approval_tasks.remind_approvers"
CHECK_LEASES = "vms.approval_tasks.check_leases"
RECORD_WORKER_HEARTBEAT = "monitoring.tasks.record_worker_heartbeat"
CHECK_IDLE_GPUS = "monitoring.tasks.check_idle_gpus"
REFRESH_FLEET_FIGURES = "monitoring.tasks.refresh_fleet_figures"

ALL = frozenset(
    {
        PROVISION_VM,
        START_VM,
        STOP_VM,
        RESTART_VM,
        POWER_CYCLE_VM,
        RESIZE_VM,
        DELETE_VM,
        SYNC_CLUSTER,
        ADVANCE_WAITLIST,
        NOTIFY_REQUESTER,
        NOTIFY_CHANGE_DECISION,
        NOTIFY_APPROVERS,
        REMIND_APPROVERS,
        CHECK_LEASES,
        RECORD_WORKER_HEARTBEAT,
        CHECK_IDLE_GPUS,
        REFRESH_FLEET_FIGURES,
    }
)
