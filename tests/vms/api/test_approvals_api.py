"""Approvers through the API: the queue, and decisions with the pages' rules."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.vms.factories import make_vm, request_vm
from vms.models import ChangeRequest, VirtualMachine

pytestmark = pytest.mark.django_db


def test_the_queue_is_for_approvers(member, approver, team, api_as):
    waiting = request_vm(member, team)
    assert api_as(member).get("/api/v1/approvals/").status_code == 403
    (item,) = api_as(approver).get("/api/v1/approvals/").json()
    assert (item["kind"], item["id"], item["vm"]["name"], item["requested_by"], item["own"]) == (
        "vm",
        waiting.pk,
        "job",
        "alice",
        False,
    )


def test_approve_and_reject_a_request(member, approver, team, api_as):
    first, second = request_vm(member, team, name="one"), request_vm(member, team, name="two")
    client = api_as(approver)
    approved = client.post(f"/api/v1/approvals/vms/{first.pk}/approve/", {"reason": "ok"})
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    again = client.post(f"/api/v1/approvals/vms/{first.pk}/approve/", {})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_decided"
    no_reason = client.post(f"/api/v1/approvals/vms/{second.pk}/reject/", {"reason": "  "})
    assert no_reason.status_code == 400 and no_reason.json()["errors"][0]["field"] == "reason"
    assert client.post(f"/api/v1/approvals/vms/{second.pk}/reject/", {"reason": "no budget"}).json()["state"] == (
        "rejected"
    )
    assert client.post("/api/v1/approvals/vms/999999/approve/", {}).status_code == 404


def test_nobody_decides_their_own_request(member, approver, team, api_as):
    own = request_vm(approver, team) if team.memberships.create(user=approver) else None
    response = api_as(approver).post(f"/api/v1/approvals/vms/{own.pk}/approve/", {})
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "own_request"
    assert VirtualMachine.objects.get(pk=own.pk).state == "pending_approval"


def test_a_lease_extension_is_decided(member, approver, team, api_as):
    vm = make_vm(team=team, owner=member, gpu="H100", instance_type="g8.4xlarge")
    change = ChangeRequest.objects.create(
        vm=vm, kind="extend_lease", requested_by=member, lease_ends_at=timezone.now() + timedelta(days=3)
    )
    response = api_as(approver).post(f"/api/v1/approvals/changes/{change.pk}/approve/", {})
    assert response.status_code == 200 and response.json()["state"] == "approved"
    assert VirtualMachine.objects.get(pk=vm.pk).lease_ends_at == ChangeRequest.objects.get(pk=change.pk).lease_ends_at


def test_the_queue_leaves_out_the_teams_largest_vms_only_the_page_shows(member, approver, team, api_as, make_user):
    for index in range(3):
        make_vm(team=team, owner=make_user(f"u{index}"), name=f"held-{index}")
    request_vm(member, team)
    client = api_as(approver)
    client.get("/api/v1/approvals/")  # the first request reads the catalogue into the process
    with CaptureQueriesContext(connection) as captured:
        (item,) = client.get("/api/v1/approvals/").json()
    assert item["vm"]["name"] == "job" and item["quota_used"] == 8
    assert not [query["sql"] for query in captured if "ROW_NUMBER" in query["sql"]]
