"""Every write the portal makes. Functions are keyword-only, run in a transaction, record what
they did in the event log, and enqueue Celery work only once the transaction commits."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from vms.models import Event, VirtualMachine

State = VirtualMachine.State


class InvalidTransition(Exception):
    """The VM was not in a state the move may start from (someone else moved it first)."""

    def __init__(self, vm_id, to_state, current_state):
        self.vm_id, self.to_state, self.current_state = vm_id, to_state, current_state
        super().__init__(f"VM {vm_id} cannot move to {to_state} from {current_state}")


def event_record(*, kind: str, message: str, actor=None, vm: VirtualMachine | None = None, team=None,
                 target: str = "", reason: str = "", data: dict | None = None) -> Event:
    return Event.objects.create(
        kind=kind, message=message, actor=actor, vm=vm, team=team or (vm.team if vm else None),
        target=target or (str(vm) if vm else ""), reason=reason, data=data or {},
    )


@transaction.atomic
def vm_transition(*, vm_id: int, to_state: str, actor=None, message: str = "", reason: str = "",
                  **fields) -> VirtualMachine:
    """Move the VM to `to_state` if, at this instant, it is in a state allowed to lead there.

    The check and the move are one UPDATE, so of two concurrent movers exactly one wins; the
    other gets InvalidTransition."""
    sources = VirtualMachine.ALLOWED_SOURCES[to_state]
    changed = VirtualMachine.objects.filter(pk=vm_id, state__in=sources).update(
        state=to_state, state_changed_at=timezone.now(), **fields)
    if changed != 1:
        current = VirtualMachine.objects.filter(pk=vm_id).values_list("state", flat=True).first()
        raise InvalidTransition(vm_id, to_state, current)
    vm = VirtualMachine.objects.select_related("team").get(pk=vm_id)
    event_record(kind=Event.Kind.STATE, vm=vm, actor=actor, reason=reason, message=message,
                 data={"state": to_state})
    return vm


@transaction.atomic
def vm_request(*, actor, team, spec, gpu_model, instance_type, api_shape: str,
               lease_ends_at=None) -> VirtualMachine:
    """Record a validated request in the state its GPU model's approval rule calls for."""
    needs_approval = gpu_model.needs_approval
    vm = VirtualMachine.objects.create(
        team=team, owner=actor, name=spec.name, instance_type=instance_type, gpu_model=gpu_model,
        gpu_count=instance_type.gpu_count, image=spec.image, system_disk_gib=spec.system_disk_gib,
        system_disk_class=spec.system_disk_class,
        disks=[{"name": d.name, "size_gib": d.size_gib, "storage_class": d.storage_class} for d in spec.disks],
        public_ports=list(spec.public_ports), ssh_keys=list(spec.ssh_keys), software=list(spec.software),
        cloud_config=spec.cloud_config, network=spec.network or "", justification=spec.justification,
        api_shape=api_shape, lease_ends_at=lease_ends_at,
        state=State.PENDING_APPROVAL if needs_approval else State.APPROVED,
    )
    event_record(
        kind=Event.Kind.REQUEST, vm=vm, actor=actor, reason=spec.justification,
        message=N_("Requested %(gpus)d× %(model)s on %(instance_type)s"),
        data={"state": vm.state, "gpus": vm.gpu_count, "model": gpu_model.slug, "instance_type": instance_type.name},
    )
    return vm
