"""Separation of duties: nobody decides their own request or their own lease extension, in the
services as in the pages; the queue says such an item needs another approver (issue 12, finding 1)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.vms.factories import request_vm
from vms import errors
from vms.governance import selectors, services
from vms.models import ChangeRequest, Event, Membership, VirtualMachine

pytestmark = pytest.mark.django_db


def make_approver(make_user, team, username):
    user = make_user(username)
    user.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    Membership.objects.create(team=team, user=user)
    return user


@pytest.fixture
def bob(make_user, team):
    """An approver who is also a data scientist of the team."""
    return make_approver(make_user, team, "bob")


@pytest.fixture
def carol(make_user, team):
    return make_approver(make_user, team, "carol")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def decisions(vm) -> int:
    return Event.objects.filter(vm=vm, kind=Event.Kind.DECISION).count()


@pytest.fixture
def own_extension(bob):
    """Bob's running H100 VM and the lease extension he asked for."""
    vm = request_vm(bob, bob.memberships.get().team, gpu="H100", instance_type="g1.large", name="mine")
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VirtualMachine.State.RUNNING)
    new_end = vm.lease_ends_at + timedelta(days=10)
    change = services.lease_extend(vm_id=vm.pk, actor=bob, lease_ends_at=new_end, justification="more")
    assert change.state == ChangeRequest.State.PENDING
    return vm, change


# --- The services refuse ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "decide",
    [
        lambda vm, actor: services.vm_approve(vm_id=vm.pk, actor=actor),
        lambda vm, actor: services.vm_reject(vm_id=vm.pk, actor=actor, reason="no"),
    ],
)
def test_an_approver_cannot_decide_their_own_request(bob, decide):
    vm = request_vm(bob, bob.memberships.get().team, gpu="H100", instance_type="g8.4xlarge")
    assert vm.state == VirtualMachine.State.PENDING_APPROVAL
    with pytest.raises(errors.OwnRequest, match="another approver must decide it"):
        decide(vm, bob)
    vm.refresh_from_db()
    assert vm.state == VirtualMachine.State.PENDING_APPROVAL and decisions(vm) == 0


def test_not_even_a_superuser_decides_their_own_request(make_user, team):
    root = make_user("root", is_superuser=True)
    Membership.objects.create(team=team, user=root)
    vm = request_vm(root, team)
    with pytest.raises(errors.OwnRequest):
        services.vm_approve(vm_id=vm.pk, actor=root)


def test_another_approver_decides_it(bob, carol):
    vm = request_vm(bob, bob.memberships.get().team)
    assert services.vm_approve(vm_id=vm.pk, actor=carol).state == VirtualMachine.State.APPROVED


@pytest.mark.parametrize(
    "decide",
    [
        lambda change, actor: services.change_request_approve(change_id=change.pk, actor=actor),
        lambda change, actor: services.change_request_reject(change_id=change.pk, actor=actor, reason="no"),
    ],
)
def test_an_approver_cannot_decide_their_own_lease_extension(bob, own_extension, decide):
    vm, change = own_extension
    lease = vm.lease_ends_at
    with pytest.raises(errors.OwnRequest):
        decide(change, bob)
    change.refresh_from_db()
    vm.refresh_from_db()
    assert change.state == ChangeRequest.State.PENDING and vm.lease_ends_at == lease and decisions(vm) == 0


def test_nor_an_extension_a_manager_asked_for_on_their_vm(bob, make_user, team, own_extension):
    _, change = own_extension
    manager = make_user("maria")
    Membership.objects.create(team=team, user=manager, role=Membership.Role.MANAGER)
    ChangeRequest.objects.filter(pk=change.pk).update(requested_by=manager)
    with pytest.raises(errors.OwnRequest):
        services.change_request_approve(change_id=change.pk, actor=bob)


def test_another_approver_extends_the_lease(carol, own_extension):
    vm, change = own_extension
    services.change_request_approve(change_id=change.pk, actor=carol)
    vm.refresh_from_db()
    assert vm.lease_ends_at == change.lease_ends_at


# --- The pages say so ------------------------------------------------------------------------


def test_the_queue_shows_an_own_request_as_needing_another_approver(bob, carol, member, team):
    own = request_vm(bob, team, name="bobs")
    other = request_vm(member, team, name="alices")
    html = logged_in(bob).get(reverse("approval_queue")).content.decode()
    own_card = html[html.index(f'id="approval-vm-{own.pk}"') :].split("</article>")[0]
    other_card = html[html.index(f'id="approval-vm-{other.pk}"') :].split("</article>")[0]
    assert "Needs another approver" in own_card and 'value="approve"' not in own_card
    assert "Needs another approver" not in other_card and 'value="approve"' in other_card

    html = logged_in(carol).get(reverse("approval_queue")).content.decode()
    assert "Needs another approver" not in html
    assert selectors.approval_count(approver=bob) == 1 and selectors.approval_count(approver=carol) == 2


def test_the_queue_shows_an_own_extension_as_needing_another_approver(bob, own_extension):
    _, change = own_extension
    html = logged_in(bob).get(reverse("approval_queue")).content.decode()
    card = html[html.index(f'id="approval-change-{change.pk}"') :].split("</article>")[0]
    assert "Needs another approver" in card and 'value="approve"' not in card


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_deciding_an_own_request_in_the_page_fails_clearly_and_changes_nothing(bob, team, decision):
    vm = request_vm(bob, team)
    response = logged_in(bob).post(
        reverse("approval_decide_vm", args=[vm.pk]), {"decision": decision, "reason": "mine"}, follow=True
    )
    assert response.status_code == 200
    assert f"You asked for {vm.name} yourself: another approver must decide it." in response.content.decode()
    vm.refresh_from_db()
    assert vm.state == VirtualMachine.State.PENDING_APPROVAL and decisions(vm) == 0


def test_deciding_an_own_extension_in_the_page_fails_clearly_and_changes_nothing(bob, own_extension):
    _, change = own_extension
    response = logged_in(bob).post(
        reverse("approval_decide_change", args=[change.pk]), {"decision": "approve"}, follow=True
    )
    assert "another approver must decide it" in response.content.decode()
    change.refresh_from_db()
    assert change.state == ChangeRequest.State.PENDING


def test_the_home_page_counts_only_what_the_approver_may_decide(bob, member, team):
    request_vm(bob, team, name="bobs")
    html = logged_in(bob).get(reverse("home")).content.decode()
    assert "waits for your decision" not in html
    request_vm(member, team, name="alices")
    assert "1 request waits for your decision." in logged_in(bob).get(reverse("home")).content.decode()
