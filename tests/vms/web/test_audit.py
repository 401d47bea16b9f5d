"""The audit log: what lands in it, and the page that shows it."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from tests.vms.factories import make_vm, request_vm
from vms import errors, transitions
from vms.governance import services, waitlist
from vms.models import (
    ChangeRequest,
    Event,
    GpuModel,
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_admin_changes_land_in_the_audit_log(admin_client):
    h100 = GpuModel.objects.get(slug="H100")
    admin_client.post(reverse("admin:vms_quota_add"), {"team": _team().pk, "gpu_model": h100.pk, "max_gpus": 4})
    event = Event.objects.get(kind="admin")
    assert event.text.startswith("Added quota")
    assert event.actor.username == "admin"


def _team():
    from vms.models import Team

    return Team.objects.get_or_create(name="audit-team")[0]


def test_audit_log_filters_and_exports_csv(admin_client, member, team, client):
    vm = request_vm(member, team)
    transitions.event_record(kind="access", vm=vm, actor=member, message="Viewed the connection details")
    html = admin_client.get(reverse("audit_log"), {"kind": "access"}).content.decode()
    assert "Viewed the connection details" in html and "Requested 8× H100" not in html
    csv_text = b"".join(admin_client.get(reverse("audit_log"), {"format": "csv"}).streaming_content).decode()
    assert csv_text.splitlines()[0] == "when,kind,who,team,on what,what,why"
    assert "Requested 8× H100 on g8.4xlarge" in csv_text
    response = admin_client.get(reverse("audit_log"), {"since": "2026-12-02", "until": "2026-12-01"})
    assert "The end date comes before the start date." in response.content.decode()
    client.force_login(member)
    assert client.get(reverse("audit_log")).status_code == 403


def test_admin_pages_and_sync_now(admin_client, member, team):
    from vms.models import OrphanObject

    make_vm(team=team, owner=member, name="listed")
    OrphanObject.objects.create(namespace="tenant-x", kind="VMDisk", name="stray-os", seen_at=timezone.now())
    assert "listed" in admin_client.get(reverse("admin:vms_virtualmachine_changelist")).content.decode()
    assert "stray-os" in admin_client.get(reverse("admin:vms_orphanobject_changelist")).content.decode()
    assert admin_client.get(reverse("admin:vms_event_changelist")).status_code == 200
    response = admin_client.post(
        reverse("admin:vms_virtualmachine_changelist"),
        {"action": "sync_now", "_selected_action": [VirtualMachine.objects.get().pk]},
        follow=True,
    )
    assert "A status sync is queued" in response.content.decode()
    # VMs and the audit log are not editable from the admin.
    assert admin_client.get(reverse("admin:vms_virtualmachine_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:vms_event_delete", args=[Event.objects.create(kind="admin", message="x").pk]),
            {"post": "yes"},
        ).status_code
        == 403
    )


def test_approvers_read_the_requests_page_but_cannot_act_on_it(approver_client, member, team):
    vm = request_vm(member, team)
    page = approver_client.get(reverse("vm_detail", args=[vm.pk]))
    assert page.status_code == 200 and "Waiting for approval" in page.content.decode()
    assert approver_client.post(reverse("vm_delete", args=[vm.pk]), {"confirm_name": vm.name}).status_code == 403
    assert VirtualMachine.objects.get(pk=vm.pk).state == "pending_approval"


def test_waitlist_skips_a_request_cancelled_while_it_advances(member, team, monkeypatch):
    from vms.governance import selectors

    cancelled = make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large", state="approved")
    waiting = make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large", state="approved")
    listed = [VirtualMachine.objects.get(pk=cancelled.pk), VirtualMachine.objects.get(pk=waiting.pk)]
    VirtualMachine.objects.filter(pk=cancelled.pk).update(state="deleted")  # after the list was read
    monkeypatch.setattr(selectors, "waitlist", lambda *, gpu_model: listed if gpu_model.slug == "H100" else [])
    assert waitlist.waitlist_advance() == [waiting.pk]
    assert VirtualMachine.objects.get(pk=waiting.pk).state == "provisioning"


def test_no_lease_extension_for_a_deleted_vm_and_deleting_withdraws_a_pending_one(
    member_client, approver_client, member, team
):
    from vms.governance import lifecycle

    vm = make_vm(
        team=team, owner=member, gpu="H100", state="running", lease_ends_at=timezone.now() + timedelta(hours=3)
    )
    new_end = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "x"})
    change = ChangeRequest.objects.get(vm=vm)
    lifecycle.vm_delete(vm_id=vm.pk, actor=member)
    assert ChangeRequest.objects.get(pk=change.pk).state == "withdrawn"
    response = approver_client.post(
        reverse("approval_decide_change", args=[change.pk]), {"decision": "approve"}, follow=True
    )
    assert "Someone already decided this request." in response.content.decode()

    response = member_client.post(
        reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "again"}, follow=True
    )
    assert "is being deleted: its lease cannot change" in response.content.decode()
    assert ChangeRequest.objects.filter(vm=vm).count() == 1


def test_an_ended_lease_blocks_retry_approval_and_the_waitlist(member, team, approver):
    from vms.governance import lifecycle

    ended = timezone.now() - timedelta(minutes=5)
    failed = make_vm(team=team, owner=member, gpu="L40S", state="failed", failure_retryable=True, lease_ends_at=ended)
    with pytest.raises(errors.LeaseEnded):
        lifecycle.vm_retry(vm_id=failed.pk, actor=member)
    waiting = make_vm(team=team, owner=member, gpu="H100", state="pending_approval", lease_ends_at=ended)
    with pytest.raises(errors.LeaseOver):
        services.vm_approve(vm_id=waiting.pk, actor=approver)
    queued = make_vm(
        team=team, owner=member, gpu="H100", instance_type="g1.large", state="approved", lease_ends_at=ended
    )
    assert waitlist.waitlist_advance() == []
    assert VirtualMachine.objects.get(pk=queued.pk).state == "approved"


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_records_one_vm_and_tells_the_second_why(member, team):
    barrier, outcomes = threading.Barrier(2), []

    def submit():
        try:
            barrier.wait()
            request_vm(member, team, name="twice", gpu="L40S", instance_type="g1.large")
            outcomes.append("recorded")
        except errors.NameTaken as error:
            outcomes.append(str(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["Team ml-research already has a VM named “twice”.", "recorded"]
    assert VirtualMachine.objects.filter(name="twice").count() == 1
