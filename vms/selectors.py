"""Reads that several views share. Each returns a queryset with what its pages display
already joined, so a page issues the same number of queries whatever the number of VMs."""

from django.db.models import QuerySet, Sum

from vms.access import visible_vms
from vms.models import VirtualMachine


def vm_list(*, user, team_id: int | None = None, state: str | None = None, gpu_model_id: int | None = None,
            mine: bool = False, include_deleted: bool = False) -> QuerySet[VirtualMachine]:
    vms = visible_vms(user).select_related("team", "owner", "instance_type", "gpu_model")
    if team_id:
        vms = vms.filter(team_id=team_id)
    if state:
        vms = vms.filter(state=state)
    elif not include_deleted:
        vms = vms.exclude(state__in=VirtualMachine.FINAL_STATES)
    if gpu_model_id:
        vms = vms.filter(gpu_model_id=gpu_model_id)
    if mine:
        vms = vms.filter(owner=user)
    return vms.order_by("-created_at", "-id")


def vm_timeline(*, vm: VirtualMachine, limit: int = 50):
    return vm.events.select_related("actor").order_by("-created_at", "-id")[:limit]


def gpus_in_use_by_model() -> dict[int, int]:
    """GPUs allocated per GPU model id, over all teams (one query)."""
    rows = (VirtualMachine.objects.filter(state__in=VirtualMachine.GPU_HOLDING_STATES)
            .values("gpu_model_id").annotate(gpus=Sum("gpu_count")))
    return {row["gpu_model_id"]: row["gpus"] for row in rows}
