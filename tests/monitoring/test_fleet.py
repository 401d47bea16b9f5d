"""The fleet view and the approver queue's figures: computed by the periodic refresh against a
real Prometheus loaded with the fixture history, read by the pages without asking Prometheus."""

import socket
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring.fleet import (
    FLEET_PAGE_SIZE,
    SORT_FIELDS,
    figures_state,
    fleet_figures_refresh,
    fleet_page,
    fleet_rows,
)
from monitoring.models import FiguresRefresh
from monitoring.prometheus import TIMEOUT, PrometheusError, capture_queries
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.expected import at, expected_average, expected_maximum
from tests.vms.factories import make_vm
from vms.models import Membership, VirtualMachine

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]
REL = 1e-9


def test_fleet_figures_and_idle_flags(live_settings, fleet, gateway, world, make_user):
    admin = make_user("root", is_superuser=True)
    running = VirtualMachine.objects.filter(state="running", gpu_count__gt=0).count()
    assert fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway) == running
    assert figures_state(now=at(fleet.query_time)).pending is False
    rows = list(fleet_rows(admin, now=at(fleet.query_time)))
    by_name = {row.vm.name: row for row in rows}
    # The page's rows, read as values, say what the export's say.
    page, _ = fleet_page(admin, now=at(fleet.query_time))
    assert [(row["name"], row["figures__avg_7d"], row["idle"]) for row in page.object_list] == [
        (row.vm.name, row.avg_7d, row.idle) for row in rows[:FLEET_PAGE_SIZE]
    ]
    for key in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        row = by_name[key[1]]
        assert row.avg_24h == pytest.approx(expected_average(fleet, key, 86400), rel=REL)
        assert row.avg_7d == pytest.approx(expected_average(fleet, key, 7 * 86400), rel=REL)
        assert row.max_24h == expected_maximum(fleet, key, 86400)
        assert row.max_7d == expected_maximum(fleet, key, 7 * 86400)
        assert row.idle == (expected_average(fleet, key, 86400) < 5.0)
        assert row.power_watts is not None and row.memory_percent is not None
    assert by_name["notebook-idle"].idle is True
    assert by_name["llm-train"].idle is False and by_name["inference-api"].idle is False
    assert by_name["llm-train"].max_7d <= 100  # the garbage sample is dropped
    assert by_name["no-exporter"].idle is None and by_name["no-exporter"].avg_24h is None


def test_a_vm_running_for_less_than_the_window_is_not_idle(live_settings, fleet, gateway, world, make_user):
    idle_vm = world["vms"][fx.IDLE]
    VirtualMachine.objects.filter(pk=idle_vm.pk).update(state_changed_at=at(fleet.query_time) - timedelta(hours=2))
    fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway)
    rows = fleet_rows(make_user("root", is_superuser=True), now=at(fleet.query_time))
    assert next(row for row in rows if row.vm.pk == idle_vm.pk).idle is False


def test_fleet_sorts_and_exports_csv(client, live_settings, fleet, gateway, world, make_user):
    fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway)
    client.force_login(make_user("root", is_superuser=True))
    html = client.get(reverse("fleet"), {"sort": "avg_24h", "dir": "desc"}).content.decode()
    order = [
        name for name in ("llm-train", "exporter-down", "inference-api", "notebook-idle", "no-exporter") if name in html
    ]
    positions = [html.index(f">{name}</a>") for name in order]
    assert positions.index(min(positions)) == 0  # the busiest first
    assert html.index(">llm-train</a>") < html.index(">inference-api</a>") < html.index(">notebook-idle</a>")
    assert html.index(">notebook-idle</a>") < html.index(">no-exporter</a>")  # no figure: last
    csv_response = client.get(reverse("fleet"), {"sort": "name", "format": "csv"})
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = b"".join(csv_response.streaming_content).decode().splitlines()
    assert lines[0].startswith("vm,team,owner,gpu_model,gpus,avg_util_24h_percent")
    assert [line.split(",")[0] for line in lines[1:]] == sorted(name for _, name in world["vms"])
    idle_line = next(line for line in lines if line.startswith("notebook-idle,"))
    assert idle_line.endswith(",yes")
    assert client.get(reverse("fleet"), {"sort": "'; drop", "dir": "sideways"}).status_code == 200


@pytest.mark.parametrize("sort", sorted(SORT_FIELDS))
@pytest.mark.parametrize("descending", [False, True])
def test_a_page_shows_the_rows_of_the_full_order(live_settings, fleet, gateway, world, make_user, sort, descending):
    """The page sorts ids, then reads their rows: the same rows in the same order as the export."""
    fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway)
    admin = make_user("root", is_superuser=True)
    for index in range(FLEET_PAGE_SIZE):  # a second page
        make_vm(team=world["teams"]["beta"], owner=admin, name=f"more-{index:02d}", gpu=["L40S", "H100"][index % 2])
    now = at(fleet.query_time)
    everything = [row.vm.pk for row in fleet_rows(admin, sort=sort, descending=descending, now=now)]
    pages = [fleet_page(admin, sort=sort, descending=descending, page=number, now=now)[0] for number in (1, 2)]
    assert [row["pk"] for page in pages for row in page.object_list] == everything[: 2 * FLEET_PAGE_SIZE]
    assert [row["idle"] for row in pages[0].object_list] == [
        row.idle for row in list(fleet_rows(admin, sort=sort, descending=descending, now=now))[:FLEET_PAGE_SIZE]
    ]


def test_fleet_costs_do_not_grow_with_vms_and_the_page_never_asks_prometheus(
    client, live_settings, fleet, gateway, world, make_user
):
    client.force_login(make_user("root", is_superuser=True))

    def costs():
        with capture_queries() as refresh_promql:
            fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway)
        with CaptureQueriesContext(connection) as sql, capture_queries() as page_promql:
            assert client.get(reverse("fleet")).status_code == 200
        return len(refresh_promql), len(sql), len(page_promql)

    costs()  # the first request reads the catalogue into the process
    few = costs()
    team = world["teams"]["beta"]
    for index in range(12):
        owner = make_user(f"extra{index}")
        Membership.objects.create(team=team, user=owner)
        make_vm(team=team, owner=owner, gpu=["L40S", "A100", "H100"][index % 3])
    costs()  # the new rows are read whole once, then from the cache
    assert costs() == few
    # The refresh: avg/max over 24 h and 7 d, memory, power (the 24 h idle window is reused);
    # the page: none.
    assert few[0] == 6 and few[2] == 0


def test_the_approver_queue_shows_the_teams_stored_seven_day_figures(
    client, live_settings, fleet, gateway, world, make_user
):
    fleet_figures_refresh(now=at(fleet.query_time), gateway=gateway)
    approver = make_user("approver")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    training = world["vms"][fx.TRAINING]
    make_vm(team=training.team, owner=training.owner, name="more-please", state="pending_approval", gpu="H100")
    client.force_login(approver)

    with capture_queries() as promql:
        html = client.get(reverse("approval_queue")).content.decode()

    assert promql == []
    row = html.split(f"<td>{training.name}</td>", 1)[1].split("</tr>", 1)[0]
    assert f"{expected_average(fleet, fx.TRAINING, 7 * 86400):.0f} %" in row


def test_a_prometheus_that_does_not_answer_leaves_the_figures_pending_not_the_page(
    client, live_settings, world, make_user, settings
):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.PROMETHEUS_TIMEOUT_SECONDS = 30
        settings.PROMETHEUS_RETRIES = 0
        settings.FLEET_FIGURES_BUDGET_SECONDS = 1
        with pytest.raises(PrometheusError) as error:
            fleet_figures_refresh()
    assert error.value.kind == TIMEOUT and "took longer than 1 s" in error.value.message
    assert FiguresRefresh.objects.get().problem == error.value.message
    client.force_login(make_user("root", is_superuser=True))

    with capture_queries() as promql:
        html = client.get(reverse("fleet")).content.decode()

    assert promql == []
    assert 'data-figures="pending"' in html and "took longer than 1 s" in html
    assert html.count("<tr data-vm=") == VirtualMachine.objects.filter(state="running", gpu_count__gt=0).count()
