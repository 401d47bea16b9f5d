"""The kernel every layer writes through: a VM's state moves as one conditional UPDATE, every
write leaves an event, and Celery work leaves only once the transaction commits."""

import logging

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from hikube_portal.celery import app as celery_app
from vms.errors import InvalidTransition
from vms.models import Event, VirtualMachine
from vms.states import ALLOWED_SOURCES

log = logging.getLogger(__name__)


def enqueue_on_commit(task: str, **arguments) -> None:
    """Send the Celery task named `task` (by name: no import cycle with the task modules) once
    the current transaction commits. A broker outage is logged, not raised: the rows are the
    source of truth and the periodic tasks (status sync, waitlist, notifications) catch up."""

    def send():
        try:
            celery_app.send_task(task, kwargs=arguments)
        except (KombuError, OSError) as exc:
            log.warning("could not enqueue %s%r: %s", task, arguments, exc)

    transaction.on_commit(send)


def event_record(
    *,
    kind: str,
    message: str,
    actor=None,
    vm: VirtualMachine | None = None,
    team=None,
    target: str = "",
    reason: str = "",
    data: dict | None = None,
) -> Event:
    return Event.objects.create(
        kind=kind,
        message=message,
        actor=actor,
        vm=vm,
        team=team or (vm.team if vm else None),
        target=target or (str(vm) if vm else ""),
        reason=reason,
        data=data or {},
    )


@transaction.atomic
def vm_transition(
    *,
    vm_id: int,
    to_state: str,
    actor=None,
    message: str = "",
    reason: str = "",
    event_kind: str = Event.Kind.STATE,
    **fields,
) -> VirtualMachine:
    """Move the VM to `to_state` if, at this instant, it is in a state allowed to lead there.

    The check and the move are one UPDATE, so of two concurrent movers exactly one wins; the
    other gets InvalidTransition."""
    sources = ALLOWED_SOURCES[to_state]
    changed = VirtualMachine.objects.filter(pk=vm_id, state__in=sources).update(
        state=to_state, state_changed_at=timezone.now(), **fields
    )
    if changed != 1:
        current = VirtualMachine.objects.filter(pk=vm_id).values_list("state", flat=True).first()
        raise InvalidTransition(vm_id, to_state, current)
    vm = VirtualMachine.objects.select_related("team").get(pk=vm_id)
    event_record(kind=event_kind, vm=vm, actor=actor, reason=reason, message=message, data={"state": to_state})
    return vm
