"""No page renders more than one page of rows: the fleet view, the approver queue and the VM
list weigh the same with 100 VMs as with 2,000 (issue 17)."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from monitoring.fleet import FLEET_PAGE_SIZE
from tests.vms.factories import unsaved_vm
from vms.models import GpuModel, InstanceType, Membership, Team, VirtualMachine

pytestmark = pytest.mark.django_db
TEAMS = 10


def add_vms(teams, owner, count: int, *, first: int) -> None:
    l40s, small = GpuModel.objects.get(slug="L40S"), InstanceType.objects.get(name="g1.large")
    VirtualMachine.objects.bulk_create(
        [
            unsaved_vm(
                team=teams[number % len(teams)],
                owner=owner,
                instance_type=small,
                gpu_model=l40s,
                name=f"vm-{number:05d}",
            )
            for number in range(first, first + count)
        ]
    )


def weigh(client, url) -> tuple[int, int]:
    """(HTML bytes, table rows) of a page, whose numbers (counts, page totals) are blanked out."""
    response = client.get(url)
    assert response.status_code == 200
    html = re.sub(r"\d+", "0", response.content.decode())
    return len(html), html.count("<tr")


def test_the_busiest_pages_weigh_the_same_at_100_and_2000_vms(make_user):
    teams = [Team.objects.create(name=f"team-{index:02d}") for index in range(TEAMS)]
    owner = make_user("owner")
    for team in teams:
        Membership.objects.create(team=team, user=owner)
    admin = make_user("root", is_superuser=True)
    approver = make_user("approver")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    h100, large = GpuModel.objects.get(slug="H100"), InstanceType.objects.get(name="g2.large")
    VirtualMachine.objects.bulk_create(
        unsaved_vm(
            team=team, owner=owner, instance_type=large, gpu_model=h100, name="waiting", state="pending_approval"
        )
        for team in teams
    )
    pages = {
        "fleet": (admin, reverse("fleet")),
        "approver queue": (approver, reverse("approval_queue")),
        "VM list": (admin, reverse("vm_list")),
    }
    clients = {}
    for name, (user, _) in pages.items():
        clients[name] = Client()
        clients[name].force_login(user)

    add_vms(teams, owner, 100, first=0)
    small = {name: weigh(clients[name], url) for name, (_, url) in pages.items()}
    add_vms(teams, owner, 1900, first=100)
    large = {name: weigh(clients[name], url) for name, (_, url) in pages.items()}

    for name in pages:
        assert large[name][1] == small[name][1], name  # as many rows
        # Within 1 %: words around the numbers may change (a plural, "minute" or "minutes").
        assert abs(large[name][0] - small[name][0]) <= small[name][0] / 100, name
    assert small["fleet"][1] == FLEET_PAGE_SIZE + 1  # a full page of rows, and its header
