"""A whole VM life in the browser, on real parts: the portal (live server), a Celery worker and
Celery beat, the development cluster over HTTP, and Chromium."""

import pytest

from tests.support.backend import portal_backend
from tests.support.browser import log_in
from vms.models import Membership, Team, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_portal(tmp_path, settings, live_server):
    with portal_backend(
        tmp_path, settings, gpus="L40S=8", namespaces=["tenant-ml-research"], name="browser-lifecycle"
    ) as backend:
        yield backend.cluster


def test_request_watch_running_stop_and_delete(page, make_user, running_portal, screenshot):
    user = make_user("alice", "s3cret-pass", first_name="Alice")
    Membership.objects.create(team=Team.objects.create(name="ml-research"), user=user, role="manager")

    log_in(page, "alice")
    # A newcomer's first page: three steps, and the starter preset one click away.
    page.get_by_role("heading", name="Your first GPU VM in three steps").wait_for()
    screenshot(page, "first-page", docs="journey-1-first-page")
    page.get_by_role("link", name="Start with “Inference API (L40S)”").click()
    page.wait_for_url("**/vms/new/?preset=inference-api")
    assert page.get_by_label("Start from a preset").input_value() == "inference-api"
    page.get_by_label("Name").fill("inference-01")
    assert page.get_by_label("GPU model").input_value() == "L40S"
    page.get_by_role("button", name="Submit the request").click()
    page.get_by_role("heading", name="inference-01").wait_for()
    url = page.url

    badge = page.locator("#vm-live [data-state]")
    badge.and_(page.locator("[data-state=running]")).wait_for(timeout=60_000)
    page.locator("[data-cluster-status]", has_text="Running").wait_for(timeout=30_000)
    assert page.url == url  # no reload: htmx swapped the live part in place
    assert page.get_by_text("Running — reachable over SSH").first.is_visible()
    page.get_by_role("button", name="Show the SSH command").click()
    page.locator("#ssh-command", has_text="ssh ubuntu@203.0.113.").wait_for()
    screenshot(page, "running", docs="journey-1-vm-running")

    page.get_by_role("button", name="Stop").click()
    badge.and_(page.locator("[data-state=stopped]")).wait_for(timeout=60_000)

    page.get_by_text("Delete this VM").click()
    page.get_by_label("VM name to confirm").fill("inference-01")
    page.get_by_role("button", name="Delete", exact=True).click()
    badge.and_(page.locator("[data-state=deleted]")).wait_for(timeout=60_000)
    assert VirtualMachine.objects.get(name="inference-01").state == "deleted"
    from kubernetes import client

    remaining = client.CustomObjectsApi(running_portal.api_client()).list_namespaced_custom_object(
        "apps.cozystack.io", "v1alpha1", "tenant-ml-research", "vminstances"
    )
    assert remaining["items"] == []
