"""Reading what opens a VM, for the pages and the API alike, each read in the audit trail: its
SSH details, and its manifests (whose free-form cloud-config may hold secrets)."""

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_noop as N_

from vms.access import is_team_member
from vms.catalogue.loading import catalogue_from_db
from vms.models import Event, Image, VirtualMachine
from vms.render.manifests import render_manifests
from vms.render.vm_record import vm_spec
from vms.transitions import event_record


@dataclass(frozen=True)
class Connection:
    user: str  # the image's login user
    host: str | None  # the public IP, once the VM has one
    ports: tuple[int, ...]

    @property
    def command(self) -> str:
        return f"ssh {self.user}@{self.host}"


@transaction.atomic
def vm_connection_read(*, vm: VirtualMachine, actor) -> Connection:
    """The SSH details; a read that reveals an address is audited."""
    user = Image.objects.filter(slug=vm.image).values_list("default_user", flat=True).first() or "root"
    if vm.external_ip:
        event_record(kind=Event.Kind.ACCESS, vm=vm, actor=actor, message=N_("Viewed the connection details"))
    return Connection(user=user, host=vm.external_ip, ports=tuple(vm.public_ports))


@transaction.atomic
def vm_manifests_read(*, vm: VirtualMachine, actor) -> list[dict]:
    """The VM's objects as the portal applies them. An approver or admin reading another team's
    VM is audited rather than served redacted: approvers judge what a request really runs, and no
    redaction reliably finds a secret in free-form YAML."""
    if not is_team_member(actor, vm.team_id):
        event_record(kind=Event.Kind.ACCESS, vm=vm, actor=actor, message=N_("Read the manifests of another team's VM"))
    return render_manifests(
        vm_spec(vm),
        catalogue=catalogue_from_db(offered_only=False),
        namespace=vm.namespace,
        vm_id=vm.pk,
        api_shape=vm.api_shape,
        running=vm.state != VirtualMachine.State.STOPPED,
    )
