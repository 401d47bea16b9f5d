import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

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


@pytest.fixture
def approver(make_user):
    user = make_user("bob", email="bob@example.com")
    group, _ = Group.objects.get_or_create(name="Approvers")
    group.permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    user.groups.add(group)
    return user


@pytest.fixture
def approver_client(approver):
    client = Client()
    client.force_login(approver)
    return client
