"""Free GPUs from what the sync read on the cluster (vms.governance.capacity), and what the request form,
the approver queue, the waitlist and its position on the VM page make of them."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from tests.vms.factories import make_vm
from vms.governance import waitlist
from vms.governance.capacity import NOT_READ_RECENTLY, NOT_READABLE, CapacityReading, gpus_observed_by_model
from vms.models import GpuAllocation, GpuModel, Membership, Team, TenantQuota, VirtualMachine

pytestmark = pytest.mark.django_db

H100 = "nvidia.com/H100_94GB"


def observed(*, allocated=0, allocatable=None, age_seconds=0.0):
    """What a complete sync stored: every catalogue model's row, H100 with these figures."""
    at = timezone.now() - timedelta(seconds=age_seconds)
    for model in GpuModel.objects.all():
        GpuAllocation.objects.update_or_create(
            resource_name=model.resource_name,
            defaults={
                "allocated": allocated if model.resource_name == H100 else 0,
                "allocatable": allocatable if model.resource_name == H100 else None,
                "observed_at": at,
            },
        )


def tenant_quota(team, *, hard, used, age_seconds=0.0):
    TenantQuota.objects.update_or_create(
        team=team,
        resource_name=H100,
        defaults={"hard": hard, "used": used, "observed_at": timezone.now() - timedelta(seconds=age_seconds)},
    )


def free_h100(team=None):
    h100 = GpuModel.objects.get(slug="H100")
    team_id = team.pk if team else None
    return CapacityReading(team_ids=[team_id]).free_gpus(team_id=team_id, gpu_model_id=h100.pk)


# --- The figure ---------------------------------------------------------------------------------


def test_the_tenant_quota_alone_bounds_it_when_nodes_are_not_readable(team):
    observed(allocated=3)  # nodes not read: allocatable unknown
    tenant_quota(team, hard=4, used=3)
    free = free_h100(team)
    assert (free.count, free.quota_left, free.quota_hard, free.nodes_free, free.estimate) == (1, 1, 4, None, False)
    assert str(free) == "1"


def test_the_nodes_alone_bound_it_when_the_team_has_no_gpu_quota(team):
    observed(allocated=3, allocatable=16)
    free = free_h100(team)
    assert (free.count, free.quota_left, free.nodes_free, free.allocatable, free.estimate) == (13, None, 13, 16, False)


def test_the_smallest_known_room_wins(team, other_team):
    observed(allocated=10, allocatable=16)
    tenant_quota(team, hard=8, used=4)
    tenant_quota(other_team, hard=8, used=0)
    assert (free_h100(team).count, free_h100(team).nodes_free) == (4, 6)  # the quota binds
    assert free_h100(other_team).count == 6  # the nodes bind
    assert free_h100().count == 6  # no team chosen yet: the nodes only


def test_neither_known_falls_back_to_the_catalogue_and_says_it_is_an_estimate(team, member):
    make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    free = free_h100(team)  # never synced
    assert (free.count, free.capacity, free.estimate_reason) == (4, 8, NOT_READ_RECENTLY)
    assert str(free) == "about 4"
    observed(allocated=4)  # synced, but nodes not readable and no quota
    assert (free_h100(team).count, free_h100(team).estimate_reason) == (4, NOT_READABLE)
    observed(allocated=4, allocatable=8, age_seconds=3600)  # the sync stopped an hour ago
    assert (free_h100(team).count, free_h100(team).estimate_reason) == (4, NOT_READ_RECENTLY)
    with translation.override("fr"):
        assert str(free_h100(team)) == "environ 4"


def test_rooms_below_zero_are_clamped(team):
    observed(allocated=9, allocatable=8)  # a node went away under running VMs
    tenant_quota(team, hard=2, used=5)  # the quota was lowered below what runs
    free = free_h100(team)
    assert (free.count, free.quota_left, free.nodes_free) == (0, 0, 0)
    observed(allocated=12)
    assert free_h100().count == 0  # the estimate too: 8 in the catalogue, 12 held


def test_what_the_portal_sent_since_the_last_sync_counts_as_held(team, member):
    observed(allocated=0, allocatable=8)
    tenant_quota(team, hard=4, used=0)
    make_vm(team=team, owner=member, gpu="H100", instance_type="g2.large", state="provisioning")
    free = free_h100(team)
    assert (free.quota_left, free.nodes_free) == (2, 6)


def test_what_the_waitlist_takes_is_counted_within_one_reading(team, other_team):
    observed(allocated=0, allocatable=8)
    tenant_quota(team, hard=4, used=0)
    h100 = GpuModel.objects.get(slug="H100")
    reading = CapacityReading(team_ids=[team.pk, other_team.pk])
    reading.add_recorded(team_id=team.pk, gpu_model_id=h100.pk, gpus=3)
    assert reading.free_gpus(team_id=team.pk, gpu_model_id=h100.pk).count == 1
    assert reading.free_gpus(team_id=other_team.pk, gpu_model_id=h100.pk).count == 5


def test_a_short_quota_is_the_teams_alone_a_short_cluster_everyones(team):
    observed(allocated=6, allocatable=8)
    tenant_quota(team, hard=8, used=7)
    free = free_h100(team)
    assert not free.fits(2) and not free.cluster_short_of(2)
    assert free.cluster_short_of(3)
    observed(allocated=6)  # nodes not read: only the quota is known, nothing cluster-wide
    assert not free_h100(team).cluster_short_of(8)
    TenantQuota.objects.all().delete()
    assert free_h100(team).cluster_short_of(3)  # the estimate is cluster-wide


def test_a_reading_is_three_queries_whatever_the_number_of_teams(team, member, make_user):
    observed(allocated=1, allocatable=8)
    for index in range(5):
        extra = Team.objects.create(name=f"extra-{index}")
        tenant_quota(extra, hard=4, used=1)
        make_vm(team=extra, owner=member, gpu="H100", instance_type="g1.large")
    teams, models = list(Team.objects.values_list("pk", flat=True)), list(GpuModel.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        reading = CapacityReading(team_ids=teams)
        for team_id in teams:
            for model_id in models:
                reading.free_gpus(team_id=team_id, gpu_model_id=model_id)
    assert len(queries) == 3
    assert gpus_observed_by_model()[GpuModel.objects.get(slug="H100").pk] == 1


# --- Pages --------------------------------------------------------------------------------------


def form_post(team, **overrides):
    return {
        "name": "train-01",
        "team": str(team.pk),
        "instance_type": "g1.large",
        "gpu_model": "H100",
        "image": "ubuntu",
        "system_disk_size": "100",
        "system_disk_class": "replicated",
        "public_ports": "22",
        "software": ["nvidia-driver"],
        "lease_ends_at": "",
        "justification": "x",
        "action": "submit",
        **overrides,
    }


def free_line(html: str) -> str:
    return html.split('data-summary="free">', 1)[1].split("</dd>", 1)[0]


def test_the_form_says_the_request_will_wait_when_the_quota_has_none_left(member_client, team):
    # The catalogue says 8 H100 and nothing runs: the old figure said "8 of 8 free".
    observed(allocated=0)
    tenant_quota(team, hard=4, used=4)
    line = free_line(member_client.post(reverse("vm_request_summary"), form_post(team)).content.decode())
    assert line.startswith('0 H100 <span class="muted">(team quota: 0 of 4 left)</span>')
    assert "not enough: the request will wait" in line

    tenant_quota(team, hard=4, used=2)
    observed(allocated=0, allocatable=8)
    line = free_line(member_client.post(reverse("vm_request_summary"), form_post(team)).content.decode())
    assert '2 H100 <span class="muted">(team quota: 2 of 4 left; cluster: 8 of 8 free)</span>' in line
    assert "will wait" not in line


def test_the_form_says_when_it_shows_an_estimate(member_client, team):
    observed(allocated=8)
    line = free_line(member_client.post(reverse("vm_request_summary"), form_post(team)).content.decode())
    assert "about 0 of 8 H100" in line
    assert "(estimate: the cluster&#x27;s capacity is not readable)" in line
    assert "not enough: the request will wait" in line
    fr = member_client.post(reverse("vm_request_summary"), form_post(team), HTTP_ACCEPT_LANGUAGE="fr").content
    assert "estimation" in free_line(fr.decode())


def test_the_form_summary_keeps_its_query_count_with_cluster_readings(member_client, team):
    def count():
        member_client.post(reverse("vm_request_summary"), form_post(team))  # the catalogue, read once
        with CaptureQueriesContext(connection) as queries:
            member_client.post(reverse("vm_request_summary"), form_post(team))
        return len(queries)

    estimate = count()
    observed(allocated=2, allocatable=8)
    tenant_quota(team, hard=4, used=2)
    assert count() == estimate


@pytest.fixture
def approver_client(client, make_user):
    approver = make_user("bob")
    group, _ = Group.objects.get_or_create(name="Approvers")
    group.permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    approver.groups.add(group)
    client.force_login(approver)
    return client


def free_cell(html: str, vm) -> str:
    article = html.split(f'id="approval-vm-{vm.pk}"', 1)[1]
    return article.split("<dd data-free>", 1)[1].split("</dd>", 1)[0]


def test_the_approver_queue_shows_each_teams_free_gpus_and_says_when_it_estimates(
    approver_client, team, other_team, member
):
    mine = make_vm(team=team, owner=member, gpu="H100", instance_type="g2.large", state="pending_approval")
    theirs = make_vm(team=other_team, owner=member, gpu="H100", instance_type="g2.large", state="pending_approval")
    observed(allocated=0)
    tenant_quota(team, hard=4, used=3)

    html = approver_client.get(reverse("approval_queue")).content.decode()
    cell = free_cell(html, mine)
    assert cell.startswith("1 H100") and "team quota: 1 of 4 left" in cell
    assert "if approved, it will wait in the queue" in cell
    cell = free_cell(html, theirs)
    assert "about 8 of 8 H100" in cell and "data-estimate" in cell and "not readable" in cell
    assert "it will wait" not in cell


def test_the_approver_queue_keeps_its_query_count_with_cluster_readings(approver_client, team, member, settings):
    settings.PROMETHEUS_URL = ""
    make_vm(team=team, owner=member, gpu="H100", instance_type="g2.large", state="pending_approval")

    def count():
        with CaptureQueriesContext(connection) as queries:
            approver_client.get(reverse("approval_queue"))
        return len(queries)

    count()  # the first request reads the catalogue into the process
    few = count()
    observed(allocated=2, allocatable=8)
    for index in range(4):
        extra = Team.objects.create(name=f"extra-{index}")
        tenant_quota(extra, hard=4, used=1)
        make_vm(team=extra, owner=member, gpu="H100", instance_type="g1.large", state="pending_approval")
    assert count() == few


def test_the_waitlist_position_says_when_the_free_figure_is_an_estimate(member_client, team, member):
    Membership.objects.get_or_create(team=team, user=member)
    make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    queued = make_vm(team=team, owner=member, gpu="H100", instance_type="g8.2xlarge", state="approved")
    page = member_client.get(reverse("vm_detail", args=[queued.pk])).content.decode()
    assert "(about 4 free now)" in page
    assert "data-estimate" in page
    observed(allocated=4, allocatable=8)
    tenant_quota(team, hard=8, used=6)
    page = member_client.get(reverse("vm_detail", args=[queued.pk])).content.decode()
    assert "(2 free now)" in page
    assert "data-estimate" not in page


# --- The waitlist -------------------------------------------------------------------------------


def queue(team, member, name, instance_type):
    return make_vm(team=team, owner=member, name=name, gpu="H100", instance_type=instance_type, state="approved")


def test_the_waitlist_serves_each_team_from_its_own_quota(team, other_team, member):
    observed(allocated=0, allocatable=8)
    tenant_quota(team, hard=2, used=0)
    first = queue(team, member, "first", "g4.xlarge")  # 4 > the team's 2: waits for quota
    second = queue(team, member, "second", "g1.large")  # behind its team's first: waits too
    third = queue(other_team, member, "third", "g4.xlarge")  # another team, no quota: the nodes have 8
    fourth = queue(other_team, member, "fourth", "g4.xlarge")
    fifth = queue(other_team, member, "fifth", "g1.large")  # 0 left on the nodes: strict order stops here
    assert waitlist.waitlist_advance() == [third.pk, fourth.pk]
    states = dict(VirtualMachine.objects.filter(pk__in=[first.pk, second.pk, fifth.pk]).values_list("name", "state"))
    assert states == {"first": "approved", "second": "approved", "fifth": "approved"}


def test_the_waitlist_stops_at_a_request_the_cluster_cannot_hold(team, other_team, member):
    observed(allocated=6, allocatable=8)
    head = queue(team, member, "head", "g4.xlarge")  # only 2 free on the nodes
    behind = queue(other_team, member, "behind", "g1.large")  # would fit, may not overtake
    assert waitlist.waitlist_advance() == []
    observed(allocated=4, allocatable=8)
    assert waitlist.waitlist_advance() == [head.pk]
    assert VirtualMachine.objects.get(pk=behind.pk).state == "approved"


def test_the_waitlist_starts_nothing_when_the_quota_is_full_even_if_the_catalogue_says_free(team, member):
    observed(allocated=0)  # the catalogue's 8 H100 all "free"
    tenant_quota(team, hard=4, used=4)
    waiting = queue(team, member, "waiting", "g1.large")
    assert waitlist.waitlist_advance() == []
    tenant_quota(team, hard=4, used=3)
    assert waitlist.waitlist_advance() == [waiting.pk]
