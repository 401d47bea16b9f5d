"""Two people, two browsers: a data scientist asks for 8×H100, an approver clears it, and the
data scientist's page follows without a reload. Worker, beat and the dev cluster are real."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.support.backend import portal_backend
from tests.support.browser import log_in
from vms.models import GpuModel, Membership, Quota, Team, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def backend(tmp_path, settings, live_server):
    settings.PROMETHEUS_URL = ""
    with portal_backend(
        tmp_path, settings, gpus="H100=8", namespaces=["tenant-ml-research"], name="browser-approval"
    ) as backend:
        yield backend


def test_request_eight_h100_then_approve_in_another_browser(browser, live_server, backend, make_user, screenshot):
    team = Team.objects.create(name="ml-research")
    scientist = make_user("alice", "s3cret-pass", first_name="Alice")
    Membership.objects.create(team=team, user=scientist)
    approver = make_user("bob", "s3cret-pass", first_name="Bob")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=16)

    scientist_context = browser.new_context(base_url=live_server.url)
    approver_context = browser.new_context(base_url=live_server.url)
    try:
        mine = log_in(scientist_context.new_page(), "alice")
        mine.goto("/vms/new/?preset=llm-training")
        mine.get_by_label("Name", exact=True).fill("llm-70b")
        mine.get_by_label("Justification").fill("Fine-tune the 70B model on the legal corpus")
        mine.get_by_label("Lease ends").fill((timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
        mine.get_by_role("button", name="Submit the request").click()
        mine.get_by_role("heading", name="llm-70b").wait_for()
        badge = mine.locator("#vm-live [data-state]")
        assert badge.inner_text() == "Waiting for approval"
        url = mine.url

        theirs = log_in(approver_context.new_page(), "bob")
        theirs.get_by_role("link", name="Approvals").click()
        card = theirs.locator("article.approval", has_text="llm-70b")
        assert "Fine-tune the 70B model on the legal corpus" in card.inner_text()
        assert "8 of 16 H100 committed" in card.inner_text()
        assert "Alice" in card.inner_text()
        screenshot(theirs, "approver-queue")
        card.get_by_role("button", name="Approve").click()
        theirs.get_by_text("llm-70b approved.").wait_for()

        # The data scientist's page polls: it leaves "waiting" by itself, no reload.
        badge.and_(mine.locator("[data-state=provisioning], [data-state=running]")).wait_for(timeout=30_000)
        assert mine.url == url
        assert mine.get_by_text("Approved").first.is_visible()
    finally:
        scientist_context.close()
        approver_context.close()
    assert VirtualMachine.objects.get(name="llm-70b").state in ("provisioning", "running")
