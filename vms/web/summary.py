"""The live summary beside the request form: what the request adds up to, before submitting."""

from decimal import Decimal

from vms.governance import selectors
from vms.governance.capacity import CapacityReading
from vms.models import Quota

HOURS_PER_MONTH = Decimal(730)


def _whole_number(value) -> int:
    text = str(value or "").strip()
    return int(text) if text.isdecimal() else 0


def request_summary(form) -> dict:
    """Figures for what the form holds now, valid or not (unknown parts show as such).

    Reads raw field values, so it also summarises the initial, unbound form."""
    instance_type = form.fields["instance_type"].row(form["instance_type"].value())
    gpu_model = form.fields["gpu_model"].row(form["gpu_model"].value())
    if form.is_bound:
        form.is_valid()
    summary = {
        "instance_type": instance_type,
        "gpu_model": gpu_model,
        "warnings": form.warnings,
        "disk_gib": _whole_number(form["system_disk_size"].value())
        + sum(_whole_number(row["size"]) for row in form.disk_rows),
    }
    if instance_type:
        summary.update(vcpu=instance_type.vcpu, ram_gib=instance_type.ram_gib, gpus=instance_type.gpu_count)
    team = form.fields["team"].row(_whole_number(form["team"].value()))
    if gpu_model:
        team_id = team.pk if team else None
        summary.update(
            needs_approval=gpu_model.needs_approval,
            free=CapacityReading(team_ids=[team_id], gpu_model_ids=[gpu_model.pk]).free_gpus(
                team_id=team_id, gpu_model_id=gpu_model.pk
            ),
        )
    if gpu_model and instance_type and team:
        quota = Quota.objects.filter(team=team, gpu_model=gpu_model).values_list("max_gpus", flat=True).first()
        used = selectors.team_gpus_committed(team=team, gpu_model=gpu_model)
        summary["quota"] = {
            "used": used,
            "this": instance_type.gpu_count,
            "limit": quota,
            "remaining": None if quota is None else quota - used - instance_type.gpu_count,
        }
    if gpu_model and instance_type:
        summary["gpu_memory_gb"] = gpu_model.memory_gb * instance_type.gpu_count
        summary["fits_now"] = summary["free"].fits(instance_type.gpu_count)
        if gpu_model.price_per_gpu_hour is not None:
            hourly = gpu_model.price_per_gpu_hour * instance_type.gpu_count
            summary["cost_hour"] = hourly
            summary["cost_month"] = (hourly * HOURS_PER_MONTH).quantize(Decimal("1"))
    return summary
