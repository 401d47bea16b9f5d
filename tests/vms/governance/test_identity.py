"""Teams and roles from the identity provider's groups (vms.governance.identity), without the provider."""

import pytest

from vms import access
from vms.governance.identity import GroupPolicy, identity_sync, identity_user, roles_from_groups
from vms.models import Event, Membership, OidcIdentity, Team

pytestmark = pytest.mark.django_db


def test_cozystack_groups_map_to_roles_and_the_highest_wins():
    groups = [
        "tenant-alpha-view",
        "tenant-alpha-use",
        "/tenant-beta-super-admin",
        "tenant-gamma-admin",
        "tenant-delta-view",
        "tenant-Bad-use",
        "tenant--use",
        "tenant-eps-owner",
        "platform-admins",
    ]
    assert roles_from_groups(groups) == {
        "alpha": "member",
        "beta": "manager",
        "gamma": "manager",
        "delta": "reader",
    }


def test_a_team_name_no_namespace_can_carry_is_ignored(make_user):
    user = make_user("ada")
    identity_sync(user=user, groups=["tenant-" + "x" * 60 + "-use"], policy=GroupPolicy())
    assert not Team.objects.exists() and not Membership.objects.exists()


def test_sync_is_idempotent_and_audits_only_changes(make_user):
    user = make_user("ada")
    Team.objects.create(name="alpha")
    identity_sync(user=user, groups=["tenant-alpha-use"], policy=GroupPolicy())
    events = Event.objects.count()
    report = identity_sync(user=user, groups=["tenant-alpha-use"], policy=GroupPolicy())
    assert (report.joined, report.left, report.changed) == ([], [], [])
    assert Event.objects.count() == events


def test_platform_roles_follow_the_groups_only_when_configured(make_user):
    user = make_user("ada", is_superuser=True, is_staff=True)
    identity_sync(user=user, groups=[], policy=GroupPolicy())
    user.refresh_from_db()
    assert user.is_superuser  # no admin groups configured: left to the admin
    identity_sync(user=user, groups=[], policy=GroupPolicy(admin_groups=frozenset({"platform-admins"})))
    user.refresh_from_db()
    assert not user.is_superuser and not user.is_staff


def test_a_provider_user_never_takes_a_local_account(django_user_model):
    local = django_user_model.objects.create_user("admin", password="break-glass")
    user = identity_user(
        issuer="https://idp",
        subject="123",
        username="admin",
        email="",
        first_name="",
        last_name="",
    )
    assert user.pk != local.pk and user.username == "admin-2"
    assert OidcIdentity.objects.get(user=user).subject == "123"
    again = identity_user(
        issuer="https://idp",
        subject="123",
        username="renamed",
        email="a@b.c",
        first_name="A",
        last_name="B",
    )
    assert again.pk == user.pk and again.email == "a@b.c"


def test_the_rules_read_the_roles_once_and_see_a_sync_at_once(make_user, django_assert_num_queries):
    user = make_user("ada")
    alpha = Team.objects.create(name="alpha")
    with django_assert_num_queries(1):
        assert not access.is_team_member(user, alpha.pk)
        assert not access.sees_fleet(user)
    identity_sync(user=user, groups=["tenant-alpha-admin"], policy=GroupPolicy())
    # The same user object, as in the sign-in's request: the rules see the new role.
    assert access.is_team_member(user, alpha.pk) and access.sees_fleet(user)
