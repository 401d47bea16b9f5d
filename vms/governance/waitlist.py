"""The waitlist: approved requests wait, per GPU model, until their team has GPUs of it free,
then go to provisioning first come first served. Its own module, apart from vms.governance.services: it
starts VMs through vms.governance.lifecycle, which itself builds on vms.governance.services."""

from django.db import transaction

from vms.errors import InvalidTransition
from vms.governance import selectors
from vms.governance.capacity import CapacityReading
from vms.governance.lifecycle import vm_provision
from vms.models import GpuModel


def waitlist_advance() -> list[int]:
    """Send approved requests to provisioning, per GPU model, first come first served, while
    their team has GPUs of the model free (vms.governance.capacity: its tenant quota, the nodes, or the
    catalogue's estimate). Returns the ids of the VMs sent."""
    sent = []
    for gpu_model in GpuModel.objects.all():
        with transaction.atomic():
            # One advancer per model at a time, so two workers cannot hand out the same GPUs.
            GpuModel.objects.select_for_update().filter(pk=gpu_model.pk).exists()
            queue = list(selectors.waitlist(gpu_model=gpu_model))
            if not queue:
                continue
            reading = CapacityReading(team_ids={vm.team_id for vm in queue}, gpu_model_ids=[gpu_model.pk])
            out_of_quota: set[int] = set()
            for vm in queue:
                if vm.team_id in out_of_quota:
                    continue  # behind its team's earlier request, which waits for quota
                free = reading.free_gpus(team_id=vm.team_id, gpu_model_id=gpu_model.pk)
                if not free.fits(vm.gpu_count):
                    if free.cluster_short_of(vm.gpu_count):
                        break  # strict order: a large request is not overtaken by smaller ones behind it
                    # Only its team's quota is short: other teams' requests do not wait for it.
                    out_of_quota.add(vm.team_id)
                    continue
                try:
                    vm_provision(vm_id=vm.pk)
                except InvalidTransition:
                    continue  # cancelled since the list was read: its GPUs stay free for the next
                reading.add_recorded(team_id=vm.team_id, gpu_model_id=gpu_model.pk, gpus=vm.gpu_count)
                sent.append(vm.pk)
    return sent
