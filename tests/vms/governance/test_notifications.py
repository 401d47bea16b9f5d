"""The emails about requests, decisions and leases."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from tests.vms.factories import request_vm
from vms.governance import services, tasks
from vms.models import (
    Membership,
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_approvers_get_one_mail_per_request_then_a_digest(approver, member, team, make_user):
    make_user("nobody", email="nobody@example.com")
    request_vm(member, team, name="one")
    tasks.notify_approvers()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bob@example.com"]
    assert "8× H100 requested: one" in mail.outbox[0].subject
    assert "/vms/approvals/" in mail.outbox[0].body
    tasks.notify_approvers()
    assert len(mail.outbox) == 1

    for index in range(3):
        request_vm(member, team, name=f"batch-{index}", instance_type="g1.large")
    tasks.notify_approvers()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[GPU portal] 3 requests wait for approval"
    assert all(f"batch-{index}" in mail.outbox[1].body for index in range(3))


def test_an_approver_is_not_asked_to_decide_their_own_request(approver, member, team, make_user):
    other = make_user("carol", email="carol@example.com")
    other.groups.add(Group.objects.get(name="Approvers"))
    Membership.objects.create(team=team, user=other)
    request_vm(other, team, name="carols")
    request_vm(member, team, name="alices")

    tasks.notify_approvers()

    asked = {(recipient, message.subject.rsplit(": ", 1)[-1]) for message in mail.outbox for recipient in message.to}
    assert asked == {("bob@example.com", "carols"), ("bob@example.com", "alices"), ("carol@example.com", "alices")}

    VirtualMachine.objects.update(created_at=timezone.now() - timedelta(hours=30))
    mail.outbox.clear()
    tasks.remind_approvers()
    reminded = {recipient: message.body for message in mail.outbox for recipient in message.to}
    assert "carols" not in reminded["carol@example.com"] and "alices" in reminded["carol@example.com"]
    assert "carols" in reminded["bob@example.com"]


def test_requester_is_told_the_decision(approver, member, team, django_capture_on_commit_callbacks):
    member.email = "alice@example.com"
    member.save()
    vm = request_vm(member, team)
    with django_capture_on_commit_callbacks(execute=False):
        services.vm_reject(vm_id=vm.pk, actor=approver, reason="Quota review on Monday")
    tasks.notify_requester(vm.pk)
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert "was rejected" in mail.outbox[-1].subject
    assert "Quota review on Monday" in mail.outbox[-1].body


def test_approvers_are_reminded_of_old_requests(approver, member, team, settings):
    vm = request_vm(member, team)
    tasks.remind_approvers()
    assert mail.outbox == []
    VirtualMachine.objects.filter(pk=vm.pk).update(created_at=timezone.now() - timedelta(hours=30))
    tasks.remind_approvers()
    tasks.remind_approvers()
    assert [m.subject for m in mail.outbox] == ["[GPU portal] Reminder: 1 request waits for approval"]
