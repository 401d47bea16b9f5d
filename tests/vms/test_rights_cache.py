"""A user's team roles, kept in the cache between requests (vms.rights_cache): read once, and
read again at the next request after any change the ORM makes to the user's memberships."""

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


def test_the_roles_are_read_once_then_kept_between_requests(member_client, member, team):
    url = reverse("vm_detail", args=[make_vm(team=team, owner=member).pk])
    assert _membership_reads(member_client, url) == (200, 1)
    assert _membership_reads(member_client, url) == (200, 0)


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
