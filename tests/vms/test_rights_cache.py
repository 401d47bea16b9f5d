"""A user's memberships, kept in the cache between requests (vms.rights_cache): read once, and
read again at the next request after any change the ORM makes to the user's memberships or to
one of their teams."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.vms.factories import make_vm
from vms.models import Membership

pytestmark = pytest.mark.django_db


def _membership_reads(client, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        status = client.get(url).status_code
    return status, sum('FROM "vms_membership"' in query["sql"] for query in captured)


@pytest.mark.parametrize("page", ["vm_detail", "home", "vm_list", "vm_request"])
def test_the_memberships_are_read_once_then_kept_between_requests(member_client, member, team, page):
    vm = make_vm(team=team, owner=member)
    url = reverse(page, args=[vm.pk]) if page == "vm_detail" else reverse(page)
    assert _membership_reads(member_client, url) == (200, 1)
    assert _membership_reads(member_client, url) == (200, 0)


def test_a_renamed_team_is_seen_at_the_next_request(member_client, team):
    assert team.display_name not in ("", "Vision Lab")
    assert _membership_reads(member_client, reverse("home"))[0] == 200
    team.display_name = "Vision Lab"
    team.save()
    response = member_client.get(reverse("home"))
    assert "Vision Lab" in response.text


def test_a_disabled_team_is_no_longer_offered_at_the_next_request(member_client, team):
    url = reverse("vm_request")
    assert f'value="{team.pk}"' in member_client.get(url).text
    team.active = False
    team.save()
    assert f'value="{team.pk}"' not in member_client.get(url).text


@pytest.mark.parametrize("change", ["removed", "made a reader", "added to the team"])
def test_a_membership_change_is_seen_at_the_next_request(client, make_user, team, other_team, change):
    user = make_user("ada")
    membership = Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
    theirs = make_vm(team=other_team, owner=make_user("olga"), name="theirs")
    mine = make_vm(team=team, owner=user, name="mine")
    client.force_login(user)
    stop = reverse("vm_action", args=[mine.pk, "stop"])
    assert _membership_reads(client, reverse("vm_detail", args=[mine.pk])) == (200, 1)
    assert client.get(reverse("vm_detail", args=[theirs.pk])).status_code == 404
    if change == "removed":
        membership.delete()
        assert client.get(reverse("vm_detail", args=[mine.pk])).status_code == 404
    elif change == "made a reader":
        membership.role = Membership.Role.READER
        membership.save()
        assert client.post(stop).status_code == 403
    else:
        Membership.objects.create(team=other_team, user=user, role=Membership.Role.READER)
        assert client.get(reverse("vm_detail", args=[theirs.pk])).status_code == 200
