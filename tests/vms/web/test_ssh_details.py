"""The VM's address is only read through the audited reveal, and approvers reading another
team's manifests are audited (issue 12, finding 4)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.vms.factories import make_vm
from vms.cluster import sync
from vms.models import Event, VirtualMachine

pytestmark = pytest.mark.django_db


def observation(**fields) -> sync.Observation:
    seen = sync.Observation(missing=[], instance=None)
    for name, value in fields.items():
        setattr(seen, name, value)
    return seen


@pytest.mark.parametrize("ports", [[22], [8080]])
def test_no_timeline_event_carries_the_address(member, team, ports):
    vm = make_vm(team=team, owner=member, public_ports=ports, cluster_status="Starting")
    running = sync._status_events(vm, observation(cluster_status="Running", external_ip="203.0.113.7"))
    vm.cluster_status, vm.external_ip = "Running", "203.0.113.7"
    moved = sync._status_events(vm, observation(cluster_status="Running", external_ip="203.0.113.9"))
    vm.cluster_status = "Stopped"
    changed = sync._status_events(vm, observation(cluster_status="Stopped", external_ip="203.0.113.11"))
    events = [
        Event(kind=Event.Kind.CLUSTER, vm=vm, message=message, data=data) for message, data in running + moved + changed
    ]
    assert [event.text for event in events] == [
        "Running — reachable over SSH" if ports == [22] else "Running — public IP assigned",
        "Running — reachable over SSH" if ports == [22] else "Running — public IP assigned",
        "Public IP changed",
    ]
    assert not any("203.0.113" in event.text or "203.0.113" in str(event.data) for event in events)


def test_the_page_shows_the_address_only_after_the_audited_reveal(member_client, member, team):
    vm = make_vm(team=team, owner=member, external_ip="203.0.113.7")
    Event.objects.create(kind=Event.Kind.CLUSTER, vm=vm, team=team, message="Running — reachable over SSH")
    page = member_client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "203.0.113.7" not in page
    assert f'hx-post="{reverse("vm_connection", args=[vm.pk])}"' in page
    assert "Each reveal is recorded in the audit log." in page


@pytest.fixture
def approver(make_user):
    user = make_user("bob")
    user.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    return user


def test_an_approver_reading_another_teams_manifests_is_audited(approver, member, member_client, team):
    vm = make_vm(team=team, owner=member, cloud_config="#cloud-config\nwrite_files: [{path: /t, content: tok}]\n")
    client = Client()
    client.force_login(approver)
    response = client.get(reverse("vm_manifests", args=[vm.pk]))
    assert response.status_code == 200 and "tok" in response.content.decode()
    access = Event.objects.get(vm=vm, kind=Event.Kind.ACCESS)
    assert (access.actor, access.text) == (approver, "Read the manifests of another team's VM")

    # The team's own members read their manifests freely.
    assert member_client.get(reverse("vm_manifests", args=[vm.pk])).status_code == 200
    assert Event.objects.filter(vm=vm, kind=Event.Kind.ACCESS).count() == 1
    assert VirtualMachine.objects.filter(pk=vm.pk).exists()
