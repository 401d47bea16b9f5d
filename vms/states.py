"""The VM state machine's one home: the states, the moves allowed between them, the sets of
states the rules ask about, and what a user may do in each. vms.transitions enforces the moves;
everything else reads these."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from hikube_portal import task_names
from vms import states


class State(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    REJECTED = "rejected", _("Rejected")
    APPROVED = "approved", _("Queued")
    PROVISIONING = "provisioning", _("Provisioning")
    RUNNING = "running", _("Running")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    STARTING = "starting", _("Starting")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")
    FAILED = "failed", _("Failed")


# Which states each state may be entered from. transitions.vm_transition enforces it in the
# UPDATE itself, so concurrent actors cannot both move the same VM.
ALLOWED_SOURCES = {
    State.APPROVED: {State.PENDING_APPROVAL},
    State.REJECTED: {State.PENDING_APPROVAL},
    State.PROVISIONING: {State.APPROVED, State.FAILED},
    State.RUNNING: {State.PROVISIONING, State.STARTING},
    State.STOPPING: {State.RUNNING, State.STARTING, State.PROVISIONING},
    State.STOPPED: {State.STOPPING},
    State.STARTING: {State.STOPPED},
    State.DELETING: {
        State.PROVISIONING,
        State.RUNNING,
        State.STOPPING,
        State.STOPPED,
        State.STARTING,
        State.FAILED,
    },
    State.DELETED: {State.DELETING, State.PENDING_APPROVAL, State.APPROVED},  # the last two: REQUEST_STATES
    State.FAILED: {
        State.PROVISIONING,
        State.RUNNING,
        State.STOPPING,
        State.STOPPED,
        State.STARTING,
        State.DELETING,
    },
}
FINAL_STATES = {State.REJECTED, State.DELETED}
# A request not yet sent to the cluster: deleting it cancels it, with nothing to remove there.
REQUEST_STATES = {State.PENDING_APPROVAL, State.APPROVED}
# States in which KubeVirt runs (or tries to run) the VM, so its GPUs are allocated.
GPU_HOLDING_STATES = {State.PROVISIONING, State.RUNNING, State.STARTING, State.STOPPING}
# States in which the VM has (or is about to have) objects on the cluster, disks at least:
# the approver queue lists a team's VMs in these states as what it already holds.
HOLDING_STATES = {
    State.PROVISIONING,
    State.RUNNING,
    State.STOPPING,
    State.STARTING,
    State.STOPPED,
    State.DELETING,
    State.FAILED,
}
# What a team holds beside a request in the approver queue: its VMs on the cluster, less those on
# their way out.
HELD_STATES = sorted(HOLDING_STATES - {State.DELETING})
# States nothing leaves without someone acting (RUNNING too, once the cluster says so).
RESTING_STATES = {State.STOPPED, State.REJECTED, State.DELETED, State.FAILED}


def is_settled(state: str, cluster_status: str) -> bool:
    """Nothing is expected to change without someone acting: pages stop polling."""
    if state == State.RUNNING:
        return cluster_status == "Running"
    return state in RESTING_STATES


# A VM on its way out, or gone: nothing more may be asked for it.
GONE_STATES = {State.DELETING, State.DELETED, State.REJECTED}

LEASE_STOPPABLE_STATES = {
    State.PROVISIONING,
    State.RUNNING,
    State.STARTING,
}

SYNCED_STATES = states.HOLDING_STATES
# Teams whose namespace is listed: those with a VM on the cluster, or that had one (their
# leftovers show up as orphans).
LISTED_TEAM_STATES = SYNCED_STATES | {State.DELETED}

# Stop is also accepted while provisioning (e.g. by an idle-GPU policy), but not offered there:
# a VM waiting for its first boot is better deleted than stopped.
ACTIONS_BY_STATE = {
    State.PENDING_APPROVAL: {"delete"},
    State.APPROVED: {"delete"},
    State.PROVISIONING: {"delete"},
    State.RUNNING: {"stop", "restart", "power_cycle", "resize", "delete"},
    State.STARTING: {"stop", "delete"},
    State.STOPPING: {"delete"},
    State.STOPPED: {"start", "resize", "delete"},
    State.FAILED: {"delete"},
}

# States in which the portal waits for the cluster to confirm what it asked for, and the task
# that asks again.
AWAITED_TASKS = {
    State.STARTING: task_names.START_VM,
    State.STOPPING: task_names.STOP_VM,
    State.DELETING: task_names.DELETE_VM,
}
