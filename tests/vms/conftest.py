import pytest

from vms.models import Membership, Team


@pytest.fixture
def team(db):
    return Team.objects.create(name="ml-research", display_name="ML research")


@pytest.fixture
def other_team(db):
    return Team.objects.create(name="vision")


@pytest.fixture
def member(make_user, team):
    user = make_user("alice", first_name="Alice")
    Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client
