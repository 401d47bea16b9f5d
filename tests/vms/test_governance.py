"""Approval rules, quotas, the approver queue, the waitlist, leases, notifications, audit."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.vms.factories import make_vm
from vms import errors, transitions
from vms.governance import services, tasks, waitlist
from vms.models import (
    AutoApprovalRule,
    ChangeRequest,
    Event,
    GpuModel,
    InstanceType,
    Membership,
    Quota,
    VirtualMachine,
)
from vms.spec.request import VmSpec

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver(make_user):
    user = make_user("bob", email="bob@example.com")
    group, _ = Group.objects.get_or_create(name="Approvers")
    group.permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    user.groups.add(group)
    return user


@pytest.fixture
def approver_client(approver):
    from django.test import Client

    client = Client()
    client.force_login(approver)
    return client


def spec(name="job", gpu="H100", instance_type="g8.4xlarge"):
    return VmSpec(
        name=name,
        team="ml-research",
        instance_type=instance_type,
        gpu_model=gpu,
        image="ubuntu",
        system_disk_gib=100,
        system_disk_class="replicated",
        justification="train",
    )


def request_vm(member, team, *, name="job", gpu="H100", instance_type="g8.4xlarge", lease_hours=48):
    return services.vm_request(
        actor=member,
        team=team,
        spec=spec(name, gpu, instance_type),
        gpu_model=GpuModel.objects.get(slug=gpu),
        instance_type=InstanceType.objects.get(name=instance_type),
        api_shape="current",
        lease_ends_at=None if lease_hours is None else timezone.now() + timedelta(hours=lease_hours),
    )


# --- Policy table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "instance_type", "rule", "lease_hours", "expected"),
    [
        ("L40S", "g1.large", None, None, "approved"),  # no approval needed
        ("A100", "g8.2xlarge", None, 24, "approved"),
        ("H100", "g1.large", None, 24, "pending_approval"),  # H100 always needs an approver...
        ("H100", "g1.large", ("H100", 1, 48), 24, "approved"),  # ...unless a rule lets it through
        ("H100", "g2.large", ("H100", 1, 48), 24, "pending_approval"),  # more GPUs than the rule
        ("H100", "g1.large", ("H100", 1, 48), 72, "pending_approval"),  # longer lease than the rule
        ("H100", "g1.large", ("H100", 1, 48), None, "pending_approval"),  # no lease: no rule applies
        ("H100", "g4.xlarge", (None, 4, 24), 12, "approved"),  # a rule for any model
        ("H100", "g1.large", ("A100", 8, 999), 12, "pending_approval"),  # a rule for another model
    ],
)
def test_approval_policy(member, team, gpu, instance_type, rule, lease_hours, expected):
    if rule:
        model, max_gpus, max_hours = rule
        AutoApprovalRule.objects.create(
            gpu_model=GpuModel.objects.get(slug=model) if model else None, max_gpus=max_gpus, max_lease_hours=max_hours
        )
    AutoApprovalRule.objects.create(
        gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8, max_lease_hours=999, active=False
    )
    vm = request_vm(member, team, gpu=gpu, instance_type=instance_type, lease_hours=lease_hours)
    assert vm.state == expected
    decisions = Event.objects.filter(vm=vm, kind="decision")
    assert decisions.count() == (1 if rule and expected == "approved" and gpu == "H100" else 0)


# --- Quotas -----------------------------------------------------------------------------------


def test_quota_counts_pending_and_active_requests(member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    request_vm(member, team, name="a", instance_type="g4.xlarge")
    request_vm(member, team, name="b", instance_type="g4.xlarge")
    with pytest.raises(
        errors.QuotaExceeded,
        match=r"Team ml-research may hold 8× H100; it holds or has asked "
        r"for 8, and this needs 1 more\.",
    ):
        request_vm(member, team, name="c", instance_type="g1.large")
    assert VirtualMachine.objects.count() == 2


def test_rejected_and_deleted_requests_free_the_quota(member, team, approver):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    vm = request_vm(member, team, name="a")
    services.vm_reject(vm_id=vm.pk, actor=approver, reason="not now")
    second = request_vm(member, team, name="b")
    assert second.state == "pending_approval"
    with pytest.raises(errors.QuotaExceeded):
        request_vm(member, team, name="c")
    from vms.governance import lifecycle

    lifecycle.vm_delete(vm_id=second.pk, actor=member)  # a request cancelled before approval is deleted at once
    assert request_vm(member, team, name="c").state == "pending_approval"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_both_take_the_last_gpus(member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    barrier, results = threading.Barrier(2), []

    def submit(name):
        try:
            barrier.wait()
            request_vm(member, team, name=name)
            results.append("ok")
        except errors.QuotaExceeded:
            results.append("quota")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "quota"]
    assert VirtualMachine.objects.count() == 1


def test_form_shows_quota_and_refuses_over_quota(member_client, member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="L40S"), max_gpus=2)
    make_vm(team=team, owner=member, gpu="L40S", instance_type="g1.large")
    data = {
        "name": "x",
        "team": str(team.pk),
        "instance_type": "g2.large",
        "gpu_model": "L40S",
        "image": "ubuntu",
        "system_disk_size": "100",
        "system_disk_class": "replicated",
        "public_ports": "22",
        "software": ["nvidia-driver", "dcgm-exporter"],
        "action": "submit",
    }
    summary = member_client.post(reverse("vm_request_summary"), data).content.decode()
    assert "1 committed + 2 requested: -1 left" in summary and "over quota" in summary
    response = member_client.post(reverse("vm_request"), data)
    assert "may hold 2× L40S" in " ".join(response.context["form"].errors["gpu_model"])
    assert VirtualMachine.objects.count() == 1


# --- Approver queue and decisions --------------------------------------------------------------


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

    response, few = render()
    html = response.content.decode()
    assert "first" in html and "8 of 16 H100 committed" in html and "warm-vm" in html
    assert "1 GPUs by the requester, 1 by the team" in html
    assert "8 of 8 H100" in html
    assert "GPU utilisation is unavailable" in html
    for index in range(4):
        request_vm(make_user(f"u{index}"), team, name=f"more-{index}", instance_type="g1.large")
    ChangeRequest.objects.create(
        vm=make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large"),
        kind="extend_lease",
        requested_by=member,
        lease_ends_at=timezone.now(),
    )
    assert render()[1] == few


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


# --- Waitlist ---------------------------------------------------------------------------------


def test_waitlist_is_first_come_first_served_and_strict(member, team, approver):
    running = make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    make_vm(team=team, owner=member, gpu="H100", instance_type="g4.xlarge", state="running")
    first = make_vm(team=team, owner=member, gpu="H100", instance_type="g8.2xlarge", state="approved")
    second = make_vm(team=team, owner=member, gpu="H100", instance_type="g1.large", state="approved")
    assert waitlist.waitlist_advance() == []
    from vms.governance.selectors import waitlist_position

    position = waitlist_position(vm=second)
    assert (position["position"], position["needed"], position["model"]) == (2, 1, "H100")
    # Nothing read from the cluster: the catalogue's 8 less the 8 held, said to be an estimate.
    assert (position["free"].count, position["free"].estimate) == (0, True)

    VirtualMachine.objects.filter(pk=running.pk).update(state="deleted")
    # 4 GPUs free: the 8-GPU request at the head waits, and the 1-GPU one behind it may not overtake it.
    assert waitlist.waitlist_advance() == []
    VirtualMachine.objects.exclude(pk__in=[first.pk, second.pk]).update(state="deleted")
    assert waitlist.waitlist_advance() == [first.pk]
    assert VirtualMachine.objects.get(pk=first.pk).state == "provisioning"
    assert VirtualMachine.objects.get(pk=second.pk).state == "approved"


# --- Leases -----------------------------------------------------------------------------------


def test_lease_reminder_once_then_stop_at_the_end(member, team, settings):
    member.email = "alice@example.com"
    member.save()
    vm = make_vm(team=team, owner=member, state="running", lease_ends_at=timezone.now() + timedelta(hours=2))
    tasks.check_leases()
    tasks.check_leases()
    assert [m.subject for m in mail.outbox] == [f"[GPU portal] The lease of {vm.name} ends soon"]
    assert mail.outbox[0].to == ["alice@example.com"]

    VirtualMachine.objects.filter(pk=vm.pk).update(lease_ends_at=timezone.now() - timedelta(minutes=1))
    tasks.check_leases()
    vm.refresh_from_db()
    assert vm.state == "stopping"
    assert "ended: the VM is stopping" in mail.outbox[-1].subject
    assert Event.objects.filter(vm=vm, kind="lease").count() == 2
    tasks.check_leases()
    assert len(mail.outbox) == 2


def test_start_is_refused_after_the_lease_ended(member_client, member, team):
    vm = make_vm(team=team, owner=member, state="stopped", lease_ends_at=timezone.now() - timedelta(hours=1))
    response = member_client.post(reverse("vm_action", args=[vm.pk, "start"]), follow=True)
    assert "ask for an extension before starting it" in response.content.decode()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "stopped"


def test_lease_extension_goes_to_approvers_for_scarce_models(member_client, approver_client, member, team):
    vm = make_vm(
        team=team,
        owner=member,
        gpu="H100",
        state="running",
        lease_ends_at=timezone.now() + timedelta(hours=3),
        lease_reminded_at=timezone.now(),
    )
    new_end = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end}, follow=True)
    assert "Tell the approver why" in response.content.decode()
    member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "eval"})
    change = ChangeRequest.objects.get(vm=vm)
    assert change.state == "pending"
    response = member_client.post(
        reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end, "justification": "again"}, follow=True
    )
    assert "already waits for approval" in response.content.decode()
    assert "Lease extension" in approver_client.get(reverse("approval_queue")).content.decode()
    approver_client.post(reverse("approval_decide_change", args=[change.pk]), {"decision": "approve"})
    vm.refresh_from_db()
    assert vm.lease_ends_at == ChangeRequest.objects.get(pk=change.pk).lease_ends_at
    assert vm.lease_ends_at > timezone.now() + timedelta(days=2)
    assert vm.lease_reminded_at is None


def test_lease_extension_is_immediate_when_no_approval_is_needed(member_client, member, team):
    vm = make_vm(
        team=team, owner=member, gpu="L40S", state="running", lease_ends_at=timezone.now() + timedelta(hours=3)
    )
    new_end = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": new_end})
    vm.refresh_from_db()
    assert vm.lease_ends_at > timezone.now() + timedelta(days=1)
    assert ChangeRequest.objects.get(vm=vm).state == "approved"


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ("not-a-date", "Enter a valid date/time"),
        ((timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "later than the current one"),
        ((timezone.localtime() + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"), "at most 30 days"),
    ],
)
def test_bad_lease_extensions_change_nothing(member_client, member, team, end, message):
    vm = make_vm(
        team=team, owner=member, gpu="L40S", state="running", lease_ends_at=timezone.now() + timedelta(hours=3)
    )
    response = member_client.post(reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": end}, follow=True)
    assert message in response.content.decode()
    assert not ChangeRequest.objects.exists()


# --- Notifications ----------------------------------------------------------------------------


def test_approvers_get_one_mail_per_request_then_a_digest(approver, member, team, make_user):
    make_user("nobody", email="nobody@example.com")
    request_vm(member, team, name="one")
    tasks.notify_approvers()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bob@example.com"]
    assert "8× H100 requested: one" in mail.outbox[0].subject
    assert "/vms/approvals/" in mail.outbox[0].body
    tasks.notify_approvers()
    assert len(mail.outbox) == 1

    for index in range(3):
        request_vm(member, team, name=f"batch-{index}", instance_type="g1.large")
    tasks.notify_approvers()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[GPU portal] 3 requests wait for approval"
    assert all(f"batch-{index}" in mail.outbox[1].body for index in range(3))


def test_an_approver_is_not_asked_to_decide_their_own_request(approver, member, team, make_user):
    other = make_user("carol", email="carol@example.com")
    other.groups.add(Group.objects.get(name="Approvers"))
    Membership.objects.create(team=team, user=other)
    request_vm(other, team, name="carols")
    request_vm(member, team, name="alices")

    tasks.notify_approvers()

    asked = {(recipient, message.subject.rsplit(": ", 1)[-1]) for message in mail.outbox for recipient in message.to}
    assert asked == {("bob@example.com", "carols"), ("bob@example.com", "alices"), ("carol@example.com", "alices")}

    VirtualMachine.objects.update(created_at=timezone.now() - timedelta(hours=30))
    mail.outbox.clear()
    tasks.remind_approvers()
    reminded = {recipient: message.body for message in mail.outbox for recipient in message.to}
    assert "carols" not in reminded["carol@example.com"] and "alices" in reminded["carol@example.com"]
    assert "carols" in reminded["bob@example.com"]


def test_requester_is_told_the_decision(approver, member, team, django_capture_on_commit_callbacks):
    member.email = "alice@example.com"
    member.save()
    vm = request_vm(member, team)
    with django_capture_on_commit_callbacks(execute=False):
        services.vm_reject(vm_id=vm.pk, actor=approver, reason="Quota review on Monday")
    tasks.notify_requester(vm.pk)
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert "was rejected" in mail.outbox[-1].subject
    assert "Quota review on Monday" in mail.outbox[-1].body


def test_approvers_are_reminded_of_old_requests(approver, member, team, settings):
    vm = request_vm(member, team)
    tasks.remind_approvers()
    assert mail.outbox == []
    VirtualMachine.objects.filter(pk=vm.pk).update(created_at=timezone.now() - timedelta(hours=30))
    tasks.remind_approvers()
    tasks.remind_approvers()
    assert [m.subject for m in mail.outbox] == ["[GPU portal] Reminder: 1 request waits for approval"]


# --- Audit ------------------------------------------------------------------------------------


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
