"""The idle-GPU policy, run periodically by monitoring.tasks.check_idle_gpus.

A running VM whose GPUs averaged below IDLE_GPU_THRESHOLD_PERCENT over the last
IDLE_GPU_WARN_AFTER_HOURS (and that ran that whole time) is idle: its owner is warned once per
idle period, by email and by a banner on the VM's pages, and the warning is an event of the
audit trail. When the GPUs are busy again the warning is withdrawn (another event), so the
next idle period warns anew. With IDLE_GPU_STOP_AFTER_HOURS > 0, a VM still idle that many
hours after its warning is stopped through vms.governance.lifecycle.vm_stop (disks kept), also an event.
A VM without measurements is never called idle: a missing exporter says nothing about the GPUs."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from monitoring.models import IdleStatus
from monitoring.prometheus import PrometheusGateway
from monitoring.telemetry import idle_policy, utilisation_by_vm
from vms.errors import InvalidTransition
from vms.governance import notifications
from vms.governance.lifecycle import vm_stop
from vms.models import Event, VirtualMachine
from vms.transitions import event_record

logger = logging.getLogger(__name__)


def check_idle_gpus(*, now: datetime | None = None, gateway: PrometheusGateway | None = None) -> dict[str, int]:
    """One pass of the policy over every running GPU VM; returns how many VMs it warned and
    cleared and stopped. One Prometheus query; raises PrometheusError when Prometheus does not answer
    (nothing is changed then: the next pass decides)."""
    now = now or timezone.now()
    policy = idle_policy()
    vms = list(
        VirtualMachine.objects.filter(state=VirtualMachine.State.RUNNING, gpu_count__gt=0).select_related(
            "team", "owner", "idle_status"
        )
    )
    averages = utilisation_by_vm(vms, window_seconds=policy.window_seconds, at=now, gateway=gateway)
    counts = {"warned": 0, "cleared": 0, "stopped": 0}
    for vm in vms:
        idle = policy.is_idle(vm, averages[vm.pk], now=now)
        status = getattr(vm, "idle_status", None)
        if idle:
            counts["warned"] += _warn(vm, averages[vm.pk], policy=policy, now=now)
            if policy.stop_after_hours:
                counts["stopped"] += _stop(vm, averages[vm.pk], policy=policy, now=now)
        elif idle is False and status is not None:
            counts["cleared"] += _clear(vm, status, averages[vm.pk])
    # A VM that stopped or went away ends its idle period too.
    IdleStatus.objects.exclude(vm__state=VirtualMachine.State.RUNNING).delete()
    return counts


@transaction.atomic
def _warn(vm: VirtualMachine, average: float, *, policy, now: datetime) -> int:
    status, _created = IdleStatus.objects.get_or_create(vm=vm)
    # The condition on warned_at makes the warning happen once even if two passes overlap.
    claimed = IdleStatus.objects.filter(pk=status.pk, warned_at__isnull=True).update(
        idle_since=now - timedelta(seconds=policy.window_seconds),
        average_percent=average,
        warned_at=now,
        checked_at=now,
    )
    if not claimed:
        IdleStatus.objects.filter(pk=status.pk).update(average_percent=average, checked_at=now)
        return 0
    data = {"average": round(average, 2), "hours": policy.warn_after_hours, "threshold": policy.threshold_percent}
    event_record(
        kind=Event.Kind.USAGE,
        vm=vm,
        message=N_("GPUs idle: %(average).1f %% average utilisation over %(hours)d h; the owner was warned"),
        data=data,
    )
    transaction.on_commit(lambda: notifications.send_idle_warning(vm, **data))
    return 1


def _stop(vm: VirtualMachine, average: float, *, policy, now: datetime) -> int:
    try:
        with transaction.atomic():
            # Claimed in the same transaction as the stop, so a VM is stopped once per idle period.
            claimed = IdleStatus.objects.filter(
                vm=vm,
                stopped_at__isnull=True,
                warned_at__lte=now - timedelta(hours=policy.stop_after_hours),
            ).update(stopped_at=now)
            if not claimed:
                return 0
            data = {"average": round(average, 2), "hours": policy.stop_after_hours}
            event_record(
                kind=Event.Kind.USAGE,
                vm=vm,
                data=data,
                message=N_(
                    "GPUs still idle %(hours)d h after the warning (%(average).1f %% average "
                    "utilisation): the VM is stopped, its disks are kept"
                ),
            )
            vm_stop(vm_id=vm.pk, reason="idle GPUs")
    except InvalidTransition:
        # Somebody stopped, deleted or restarted it meanwhile: nothing left to do.
        return 0
    return 1


@transaction.atomic
def _clear(vm: VirtualMachine, status: IdleStatus, average: float) -> int:
    deleted, _rows = IdleStatus.objects.filter(pk=status.pk).delete()
    if deleted and status.warned_at is not None:
        event_record(
            kind=Event.Kind.USAGE,
            vm=vm,
            message=N_("GPUs busy again: %(average).1f %% average utilisation; idle warning withdrawn"),
            data={"average": round(average, 2)},
        )
        return 1
    return 0
