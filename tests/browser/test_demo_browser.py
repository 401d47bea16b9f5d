"""`make run`'s demo has a past: after `seed_demo`, with a real Prometheus loaded the way it
loads it, the fleet shows figures and flags the idle VM, the charts have a week to draw, and the
approver sees what the team did with the GPUs it holds. These pages are README's screenshots."""

import csv
import io

import pytest
from django.core.management import call_command

from monitoring.fleet import fleet_figures_refresh
from tests.support.browser import log_in
from tests.support.prometheus import PrometheusServer
from vms.management.demo import DEMO_VMS
from vms.models import VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.prometheus, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_prometheus(tmp_path, settings):
    server = PrometheusServer(tmp_path)
    call_command("seed_demo", prometheus_data=server.data_dir)
    with server:
        settings.PROMETHEUS_URL = server.url
        # What `make run`'s worker asks for as it starts (hikube_portal.celery).
        fleet_figures_refresh()
        yield server


def demo_password(username):
    return f"{username}-gpu-demo"


def test_the_demo_shows_figures_idle_flags_charts_and_context(browser, live_server, demo_prometheus, screenshot):
    admin = browser.new_context(base_url=live_server.url).new_page()
    log_in(admin, "admin", demo_password("admin"))
    fleet = {
        row["vm"]: row
        for row in csv.DictReader(
            io.StringIO(admin.request.get(live_server.url + "/monitoring/fleet/?format=csv").text())
        )
    }
    running = {demo.name for demo in DEMO_VMS if demo.state == "running"}
    assert set(fleet) == running
    for row in fleet.values():
        assert float(row["avg_util_24h_percent"]) >= 0, row
        assert float(row["avg_util_7d_percent"]) >= 0, row
    assert fleet["notebook-forgotten"]["idle"] == "yes"
    assert float(fleet["llama-finetune"]["avg_util_7d_percent"]) > 80
    assert fleet["llama-finetune"]["idle"] == "no"
    admin.goto("/monitoring/fleet/")
    assert "— %" not in admin.locator("table").inner_text()
    screenshot(admin, "fleet", docs="journey-3-fleet")

    admin.goto("/monitoring/gpu-hours/")
    assert "llama-finetune" in admin.locator("main").inner_text()

    alice = browser.new_context(base_url=live_server.url).new_page()
    log_in(alice, "alice", demo_password("alice"))
    vm = VirtualMachine.objects.get(name="llama-finetune")
    alice.goto(f"/vms/{vm.pk}/gpus/?range=7d")
    panel = alice.locator(".gpu-panel[data-panel=gpu_util]")
    panel.locator("canvas").first.wait_for()
    assert panel.get_attribute("data-state") == "drawn"
    assert int(panel.get_attribute("data-points")) > 100
    assert panel.locator(".gpu-legend tbody tr").count() == 4
    screenshot(alice, "charts", docs="journey-1-gpu-charts")

    bob = browser.new_context(base_url=live_server.url).new_page()
    log_in(bob, "bob", demo_password("bob"))
    bob.get_by_role("link", name="Approvals").click()
    card = bob.locator("article.approval", has_text="llm-70b")
    held = card.locator("tr", has_text="llama-finetune").inner_text()
    assert "no data yet" not in held and "%" in held
    screenshot(bob, "approver", docs="journey-2-approver-context")
