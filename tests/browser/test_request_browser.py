from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.browser import log_in
from vms.models import Membership, Team, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_request_a_vm_from_a_preset_with_live_summary(page, make_user, screenshot):
    user = make_user("alice", "s3cret-pass", first_name="Alice")
    Membership.objects.create(team=Team.objects.create(name="ml-research"), user=user)
    log_in(page, "alice", "s3cret-pass")

    page.goto("/vms/new/")
    page.get_by_label("Start from a preset").select_option("inference-api")
    page.locator("#id_name").and_(page.locator("[value='inference-api']")).wait_for()
    summary = page.locator("#summary")
    assert summary.locator("[data-summary=gpus]").inner_text() == "1× L40S"
    assert summary.locator("[data-summary=approval]").inner_text() == "not needed"

    page.get_by_label("Instance type").select_option("g2.xlarge")
    page.get_by_label("GPU model").select_option("H100")
    summary.locator("[data-summary=gpus]", has_text="2× H100").wait_for()
    assert summary.locator("[data-summary=approval]").inner_text() == "needed"
    assert summary.locator("[data-summary=vcpu]").inner_text() == "64"

    page.get_by_label("Name").fill("Bad_Name")
    page.get_by_role("button", name="Submit the request").click()
    error = page.locator(".field.has-error", has=page.locator("#id_name")).locator(".field-error")
    error.first.wait_for()
    assert "lowercase" in error.first.inner_text()
    assert page.locator(".field.has-error", has=page.locator("#id_justification")).count() == 1
    screenshot(page, "field-errors")
    assert not VirtualMachine.objects.exists()

    page.get_by_label("Name").fill("inference-h100")
    page.get_by_label("Justification").fill("Serve the evaluation model for the review week")
    assert page.locator(".field.has-error", has=page.locator("#id_lease_ends_at")).count() == 1
    page.get_by_label("Lease ends").fill((timezone.localtime() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Submit the request").click()
    page.get_by_role("heading", name="inference-h100").wait_for()
    assert page.get_by_text("waits for an approver").is_visible()
    vm = VirtualMachine.objects.get()
    assert (vm.name, vm.gpu_count, vm.gpu_model.slug, vm.state) == ("inference-h100", 2, "H100", "pending_approval")
    assert vm.public_ports == [22, 8000]
