"""The waitlist on real parts: worker and beat running, the development cluster over HTTP."""

import time

import pytest

from tests.support.backend import portal_backend
from tests.vms.factories import make_vm
from vms.governance import lifecycle
from vms.models import Membership, Team, VirtualMachine

pytestmark = pytest.mark.django_db(transaction=True)


def wait_state(vm_id, state, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vm = VirtualMachine.objects.get(pk=vm_id)
        if vm.state == state:
            return vm
        time.sleep(0.2)
    raise AssertionError(f"VM {vm_id} is {vm.state}, not {state}; timeline: {[e.text for e in vm.events.all()]}")


def test_a_queued_request_starts_by_itself_when_gpus_are_released(tmp_path, settings, make_user):
    team = Team.objects.create(name="ml-research")
    owner = make_user("alice")
    Membership.objects.create(team=team, user=owner)
    with portal_backend(tmp_path, settings, gpus="H100=8", namespaces=[team.namespace], name="waitlist"):
        holder = make_vm(
            team=team,
            owner=owner,
            name="holder",
            gpu="H100",
            instance_type="g8.2xlarge",
            state="approved",
            public_ports=[22],
        )
        lifecycle.vm_provision(vm_id=holder.pk, actor=owner)
        wait_state(holder.pk, "running")

        first = make_vm(team=team, owner=owner, name="first", gpu="H100", instance_type="g4.xlarge", state="approved")
        second = make_vm(team=team, owner=owner, name="second", gpu="H100", instance_type="g4.xlarge", state="approved")
        time.sleep(3)  # several beat cycles: nothing may start while all 8 H100 are held
        assert VirtualMachine.objects.get(pk=first.pk).state == "approved"
        assert VirtualMachine.objects.get(pk=second.pk).state == "approved"

        lifecycle.vm_delete(vm_id=holder.pk, actor=owner)
        wait_state(holder.pk, "deleted")
        first = wait_state(first.pk, "running")
        second = wait_state(second.pk, "running")
        sent = {vm.name: vm.events.get(kind="state", data__state="provisioning").pk for vm in (first, second)}
        assert sent["first"] < sent["second"]  # first come, first served
        assert [e.data["state"] for e in first.events.filter(kind="state").order_by("id")] == [
            "provisioning",
            "running",
        ]
