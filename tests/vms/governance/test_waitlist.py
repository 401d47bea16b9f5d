"""The waitlist: approved requests start first come first served when GPUs are free."""

import pytest

from tests.vms.factories import make_vm
from vms.governance import waitlist
from vms.models import (
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_waitlist_is_first_come_first_served_and_strict(member, team, approver):
    running = make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    first = make_vm(team=team, owner=member, gpu="H100", instance_type="g8.2xlarge", state="approved")
    second = make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large", state="approved")
    assert waitlist.waitlist_advance() == []
    from vms.governance.selectors import waitlist_position

    position = waitlist_position(vm=second)
    assert (position["position"], position["needed"], position["model"]) == (2, 1, "H100")
    # Nothing read from the cluster: the catalogue's 8 less the 8 held, said to be an estimate.
    assert (position["free"].count, position["free"].estimate) == (0, True)

    VirtualMachine.objects.filter(pk=running.pk).update(state="deleted")
    # 4 GPUs free: the 8-GPU request at the head waits, and the 1-GPU one behind it may not overtake it.
    assert waitlist.waitlist_advance() == []
    VirtualMachine.objects.exclude(pk__in=[first.pk, second.pk]).update(state="deleted")
    assert waitlist.waitlist_advance() == [first.pk]
    assert VirtualMachine.objects.get(pk=first.pk).state == "provisioning"
    assert VirtualMachine.objects.get(pk=second.pk).state == "approved"
