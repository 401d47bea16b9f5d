"""The approver queue and the decisions taken from it."""

import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.vms.factories import make_vm, request_vm
from vms import errors
from vms.governance import selectors, services
from vms.models import (
    ChangeRequest,
    Event,
    GpuModel,
    Quota,
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_queue_is_closed_to_data_scientists(member_client, member, team):
    vm = request_vm(member, team)
    assert member_client.get(reverse("approval_queue")).status_code == 403
    response = member_client.post(reverse("approval_decide_vm", args=[vm.pk]), {"decision": "approve"})
    assert response.status_code == 403
    assert VirtualMachine.objects.get(pk=vm.pk).state == "pending_approval"


def test_queue_shows_context_with_a_fixed_number_of_queries(approver_client, member, team, make_user, settings):
    settings.PROMETHEUS_URL = ""
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=16)
    make_vm(team=team, owner=member, gpu="L40S", name="warm-vm")
    request_vm(member, team, name="first")

    def render():
        with CaptureQueriesContext(connection) as queries:
            response = approver_client.get(reverse("approval_queue"))
        return response, len(queries)

    render()  # the first request reads the catalogue into the process
    response, few = render()
    html = response.content.decode()
    assert "first" in html and "8 of 16 H100 committed" in html and "warm-vm" in html
    assert "1 GPUs by the requester, 1 by the team" in html
    assert "8 of 8 H100" in html
    assert 'data-figures="pending"' in html  # no figures computed yet
    for index in range(4):
        request_vm(make_user(f"u{index}"), team, name=f"more-{index}", instance_type="g1.large")
    ChangeRequest.objects.create(
        vm=make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large"),
        kind="extend_lease",
        requested_by=member,
        lease_ends_at=timezone.now(),
    )
    assert render()[1] == few


def test_the_queue_shows_ten_requests_a_page_oldest_first(approver_client, member, team, make_user, settings):
    settings.PROMETHEUS_URL = ""
    names = [f"req-{index:02d}" for index in range(12)]
    for index, name in enumerate(names):
        request_vm(make_user(f"u{index}"), team, name=name, instance_type="g1.large")

    def shown(page):
        with CaptureQueriesContext(connection) as queries:
            html = approver_client.get(reverse("approval_queue"), {"page": page}).content.decode()
        return [name for name in names if f">{name}</a>" in html], html, len(queries)

    approver_client.get(reverse("approval_queue"))  # the first request reads the catalogue into the process
    first, html, first_queries = shown(1)
    assert first == names[:10]
    assert "12 requests wait, oldest first" in html and "Page 1 of 2" in html
    second, html, second_queries = shown(2)
    assert second == names[10:] and "Page 2 of 2" in html
    assert second_queries == first_queries
    # A page past the end or not a number shows the last or the first, as the VM list does.
    assert shown(99)[0] == names[10:] and shown("x")[0] == names[:10]


def test_a_decision_brings_the_approver_back_to_the_page_it_was_taken_on(approver_client, team, make_user):
    vms = [request_vm(make_user(f"u{index}"), team, name=f"req-{index:02d}") for index in range(12)]
    page_two = approver_client.get(reverse("approval_queue"), {"page": 2}).content.decode()
    assert '<input type="hidden" name="page" value="2">' in page_two
    url = reverse("approval_decide_vm", args=[vms[10].pk])
    response = approver_client.post(url, {"decision": "approve", "page": "2"})
    assert response.status_code == 302 and response["Location"] == reverse("approval_queue") + "?page=2"
    assert VirtualMachine.objects.get(pk=vms[10].pk).state != "pending_approval"
    # Refused or odd pages go back to the queue's start; nothing is decided without a decision.
    for page in ("1", "", "0", "-3", "2x", "²", "１"):
        response = approver_client.post(url, {"page": page})
        assert response["Location"] == reverse("approval_queue"), page


def test_approve_then_double_click_decides_once(approver_client, approver, member, team):
    vm = request_vm(member, team)
    url = reverse("approval_decide_vm", args=[vm.pk])
    approver_client.post(url, {"decision": "approve"})
    response = approver_client.post(url, {"decision": "approve"}, follow=True)
    assert "Someone already decided this request." in response.content.decode()
    vm.refresh_from_db()
    assert vm.state in ("approved", "provisioning")
    assert Event.objects.filter(vm=vm, kind="decision").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_decide_once(approver, member, team, make_user):
    other = make_user("carol")
    other.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    vm = request_vm(member, team)
    barrier, results = threading.Barrier(2), []

    def decide(actor):
        try:
            barrier.wait()
            services.vm_approve(vm_id=vm.pk, actor=actor)
            results.append("approved")
        except errors.InvalidTransition:
            results.append("too late")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(actor,)) for actor in (approver, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["approved", "too late"]
    assert Event.objects.filter(vm=vm, kind="decision").count() == 1


def test_rejection_needs_a_reason(approver_client, member, team):
    vm = request_vm(member, team)
    response = approver_client.post(
        reverse("approval_decide_vm", args=[vm.pk]), {"decision": "reject", "reason": "  "}, follow=True
    )
    assert "Say why you reject the request" in response.content.decode()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "pending_approval"
    with pytest.raises(ValueError):
        services.vm_reject(vm_id=vm.pk, actor=None, reason="")
    approver_client.post(
        reverse("approval_decide_vm", args=[vm.pk]), {"decision": "reject", "reason": "Book the H100s next week"}
    )
    event = Event.objects.get(vm=vm, kind="decision")
    assert (event.text, event.reason) == ("Rejected", "Book the H100s next week")


def test_approver_cannot_approve_past_an_exhausted_quota(approver_client, member, team):
    vm = request_vm(member, team)
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=4)
    response = approver_client.post(reverse("approval_decide_vm", args=[vm.pk]), {"decision": "approve"}, follow=True)
    assert "may hold 4× H100" in response.content.decode()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "pending_approval"


def test_unknown_request_is_404_for_approvers(approver_client):
    assert (
        approver_client.post(reverse("approval_decide_vm", args=[999999]), {"decision": "approve"}).status_code == 404
    )
    assert (
        approver_client.post(reverse("approval_decide_change", args=[999999]), {"decision": "approve"}).status_code
        == 404
    )


def _approves(client) -> bool:
    """What a page says the user is (the navigation's link), and what the queue lets in."""
    nav = reverse("approval_queue") in client.get(reverse("home")).content.decode()
    status = client.get(reverse("approval_queue")).status_code
    assert nav == (status == 200), (nav, status)
    return nav


@pytest.mark.parametrize("revoke", ["group's permission", "user's group", "group", "user's own permission"])
def test_a_revoked_approver_loses_the_queue_at_the_next_request(approver_client, approver, revoke, make_user):
    permission = Permission.objects.get(codename="approve_virtualmachine")
    group = approver.groups.get()
    assert _approves(approver_client)
    if revoke == "group's permission":
        group.permissions.remove(permission)
    elif revoke == "user's group":
        approver.groups.remove(group)
    elif revoke == "group":
        group.delete()
    else:
        approver.groups.clear()
        approver.user_permissions.add(permission)
        assert _approves(approver_client)
        permission.user_set.remove(approver)  # from the permission's side of the relation
    assert not _approves(approver_client)


def test_whether_a_user_approves_is_read_from_the_cache_not_the_permission_tables(approver_client):
    approver_client.get(reverse("home"))
    with CaptureQueriesContext(connection) as queries:
        assert approver_client.get(reverse("home")).status_code == 200
    assert not [query for query in queries if "auth_permission" in query["sql"]]


def test_the_teams_largest_vms_are_ranked_from_their_index(member, team):
    for gpus, state in ((1, "running"), (2, "stopped"), (4, "failed")):
        make_vm(team=team, owner=member, state=state, instance_type=f"g{gpus}.xlarge", name=f"held-{gpus}")
    make_vm(team=team, owner=member, state="deleting", instance_type="g8.2xlarge", name="on-its-way-out")
    selectors.largest_held([team.pk])  # the catalogue, read once per change
    with CaptureQueriesContext(connection) as captured:
        shown = selectors.largest_held([team.pk])
    assert [vm.name for vm in shown[team.pk]] == ["held-4", "held-2", "held-1"][: selectors.HELD_SHOWN]
    # The chosen keys, then their rows: as one query, PostgreSQL joined the whole table to them.
    ranking, chosen = (query["sql"] for query in captured)
    assert '"vms_virtualmachine"."id" IN (' in chosen and "ROW_NUMBER" not in chosen
    with connection.cursor() as cursor:
        # A handful of rows: the planner would rather scan the table. Forbidding that asks
        # whether the index's condition matches the query's states at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {ranking}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "vm_team_largest_held" in plan, plan
