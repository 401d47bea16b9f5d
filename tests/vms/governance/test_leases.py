"""Leases: reminders, the stop at the end, and extensions."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tests.vms.factories import make_vm
from vms.governance import tasks
from vms.models import (
    ChangeRequest,
    Event,
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_lease_reminder_once_then_stop_at_the_end(member, team, settings):
    member.email = "alice@example.com"
    member.save()
    vm = make_vm(team=team, owner=member, state="running", lease_ends_at=timezone.now() + timedelta(hours=2))
    tasks.check_leases()
    tasks.check_leases()
    assert [m.subject for m in mail.outbox] == [f"[GPU portal] The lease of {vm.name} ends soon"]
    assert mail.outbox[0].to == ["alice@example.com"]

    VirtualMachine.objects.filter(pk=vm.pk).update(lease_ends_at=timezone.now() - timedelta(minutes=1))
    tasks.check_leases()
    vm.refresh_from_db()
    assert vm.state == "stopping"
    assert "ended: the VM is stopping" in mail.outbox[-1].subject
    assert Event.objects.filter(vm=vm, kind="lease").count() == 2
    tasks.check_leases()
    assert len(mail.outbox) == 2


def test_start_is_refused_after_the_lease_ended(member_client, member, team):
    vm = make_vm(team=team, owner=member, state="stopped", lease_ends_at=timezone.now() - timedelta(hours=1))
    response = member_client.post(reverse("vm_action", args=[vm.pk, "start"]), follow=True)
    assert "ask for an extension before starting it" in response.content.decode()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "stopped"


def test_lease_extension_goes_to_approvers_for_scarce_models(member_client, approver_client, member, team):
    vm = make_vm(
        team=team,
        owner=member,
        gpu="H100",
        state="running",
        lease_ends_at=timezone.now() + timedelta(hours=3),
        lease_reminded_at=timezone.now(),
    )
    new_end = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end}, follow=True)
    assert "Tell the approver why" in response.content.decode()
    member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "eval"})
    change = ChangeRequest.objects.get(vm=vm)
    assert change.state == "pending"
    assert "waits for approval</span>" in member_client.get(reverse("vm_detail", args=[vm.pk])).text
    response = member_client.post(
        reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "again"}, follow=True
    )
    assert "already waits for approval" in response.content.decode()
    assert "Lease extension" in approver_client.get(reverse("approval_queue")).content.decode()
    approver_client.post(reverse("approval_decide_change", args=[change.pk]), {"decision": "approve"})
    vm.refresh_from_db()
    assert vm.lease_ends_at == ChangeRequest.objects.get(pk=change.pk).lease_ends_at
    assert vm.lease_ends_at > timezone.now() + timedelta(days=2)
    assert vm.lease_reminded_at is None


def test_lease_extension_is_immediate_when_no_approval_is_needed(member_client, member, team):
    vm = make_vm(
        team=team, owner=member, gpu="L40S", state="running", lease_ends_at=timezone.now() + timedelta(hours=3)
    )
    new_end = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end})
    vm.refresh_from_db()
    assert vm.lease_ends_at > timezone.now() + timedelta(days=1)
    assert ChangeRequest.objects.get(vm=vm).state == "approved"


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ("not-a-date", "Enter a valid date/time"),
        ((timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "later than the current one"),
        ((timezone.localtime() + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"), "at most 30 days"),
    ],
)
def test_bad_lease_extensions_change_nothing(member_client, member, team, end, message):
    vm = make_vm(
        team=team, owner=member, gpu="L40S", state="running", lease_ends_at=timezone.now() + timedelta(hours=3)
    )
    response = member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": end}, follow=True)
    assert message in response.content.decode()
    assert not ChangeRequest.objects.exists()
