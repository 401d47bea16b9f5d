"""The reader role (a Cozystack tenant's -view group): sees the team's VMs, timelines and charts;
cannot request, act, or read what opens the VMs (SSH details, manifests)."""

import pytest
from django.urls import reverse

from tests.vms.api.conftest import ApiClient, bearer
from tests.vms.factories import make_vm
from vms.models import Membership, Team, VirtualMachine

pytestmark = pytest.mark.django_db


def offered_teams(client) -> list[Team]:
    return list(client.get(reverse("vm_request")).context["form"].fields["team"].rows.values())


@pytest.fixture
def viewer(make_user, team):
    user = make_user("vera")
    Membership.objects.create(team=team, user=user, role=Membership.Role.READER)
    return user


def test_a_reader_sees_the_team_s_vms_and_charts(client, viewer, team, member):
    vm = make_vm(team=team, owner=member, external_ip="203.0.113.4")
    client.force_login(viewer)
    assert vm.name in client.get(reverse("vm_list")).content.decode()
    page = client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "Readers of a team do not get its VMs' SSH details." in page
    assert reverse("vm_manifests", args=[vm.pk]) not in page
    assert client.get(reverse("vm_gpus", args=[vm.pk])).status_code == 200


def test_a_reader_cannot_request_for_the_team(client, viewer, team):
    client.force_login(viewer)
    assert offered_teams(client) == []
    response = ApiClient(bearer(viewer)).post("/api/v1/vms/", {"name": "x-1", "team": team.name})
    assert response.status_code == 400
    assert {"field": "team", "code": "invalid", "message": f"No team named “{team.name}”."} in response.json()["errors"]
    assert not VirtualMachine.objects.exists()


def test_a_former_member_who_owns_a_vm_only_reads_it_once_a_reader(client, team, member):
    vm = make_vm(team=team, owner=member)
    Membership.objects.filter(user=member).update(role=Membership.Role.READER)
    client.force_login(member)
    assert client.post(reverse("vm_action", args=[vm.pk, "stop"])).status_code == 403
    assert client.post(reverse("vm_connection", args=[vm.pk])).status_code == 403
    assert VirtualMachine.objects.get(pk=vm.pk).state == "running"


def test_nobody_requests_for_a_disabled_team(client, member, team):
    client.force_login(member)
    assert offered_teams(client) == [team]
    # As the admin disables it: saved, so the members' cached memberships are read again.
    team.active = False
    team.save()
    assert offered_teams(client) == []
