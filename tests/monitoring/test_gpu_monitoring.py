"""The GPU page, fleet view, GPU-hours report and idle policy against a real Prometheus loaded
with the fixture history (tests/monitoring/dcgm_fixtures.py); expected figures are computed
in Python from the same fixture data, read the way Prometheus reads it (see
test_prometheus_live's module docstring)."""

import bisect
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring import metrics, selectors
from monitoring.idle import check_idle_gpus
from monitoring.models import IdleStatus
from monitoring.prometheus import capture_queries
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.test_gateway import FakePrometheus
from tests.monitoring.test_prometheus_live import mean, sampled, subquery_instants, valid_util
from tests.support.processes import free_port
from tests.vms.factories import make_vm
from vms.models import Event, Membership, Team, VirtualMachine

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]
REL = 1e-9


@pytest.fixture
def live_settings(settings, prometheus):
    settings.PROMETHEUS_URL = prometheus.url
    settings.PROMETHEUS_TIMEOUT_SECONDS = 20
    settings.IDLE_GPU_THRESHOLD_PERCENT = 5.0
    settings.IDLE_GPU_WARN_AFTER_HOURS = 24
    return settings


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@pytest.fixture
def world(make_user, fleet):
    """The fixture's VMs as portal records: teams alpha, beta, gamma and their VMs, running
    for more than a week (so the 24 h idle window applies)."""
    teams = {name: Team.objects.create(name=name) for name in ("alpha", "beta", "gamma")}
    owner = {
        "alpha": make_user("ada", email="ada@example.org"),
        "beta": make_user("bob", email="bob@example.org"),
        "gamma": make_user("gus"),
    }
    for team, user in owner.items():
        Membership.objects.create(team=teams[team], user=user)
    types = {
        fx.TRAINING: ("g2.xlarge", "H100"),
        fx.INFERENCE: ("g1.large", "L40S"),
        fx.IDLE: ("g1.large", "A100"),
        fx.EXPORTER_DOWN: ("g1.large", "L40S"),
        fx.NEVER_INSTALLED: ("g1.large", "L40S"),
    }
    vms = {}
    long_ago = at(fleet.query_time) - timedelta(days=8)
    for (namespace, name), (instance_type, gpu) in types.items():
        team = namespace.removeprefix("tenant-")
        vm = make_vm(team=teams[team], owner=owner[team], name=name, instance_type=instance_type, gpu=gpu)
        VirtualMachine.objects.filter(pk=vm.pk).update(state_changed_at=long_ago, created_at=long_ago)
        vms[(namespace, name)] = VirtualMachine.objects.select_related("team", "owner", "gpu_model").get(pk=vm.pk)
    return {"teams": teams, "owners": owner, "vms": vms}


def expected_average(fleet, vm, window):
    per_gpu = [
        valid_util(points, subquery_instants(fleet, window))
        for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=vm[0], vm=vm[1]).values()
    ]
    per_gpu = [values for values in per_gpu if values]
    return mean([mean(values) for values in per_gpu]) if per_gpu else None


def expected_maximum(fleet, vm, window):
    per_gpu = [
        valid_util(points, subquery_instants(fleet, window))
        for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=vm[0], vm=vm[1]).values()
    ]
    return max(max(values) for values in per_gpu if values)


# --- utilisation_by_vm (the approver queue's context) ----------------------------------------------


def test_utilisation_by_vm_is_one_query_with_none_where_no_data(fleet, gateway, world):
    vms = list(world["vms"].values())
    with capture_queries() as queries:
        figures = selectors.utilisation_by_vm(vms, window_seconds=86400, at=at(fleet.query_time), gateway=gateway)
    assert len(queries) == 1
    for key in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        assert figures[world["vms"][key].pk] == pytest.approx(expected_average(fleet, key, 86400), rel=REL)
    assert figures[world["vms"][fx.NEVER_INSTALLED].pk] is None
    assert selectors.utilisation_by_vm([], window_seconds=3600, gateway=gateway) == {}


# --- GPU page ------------------------------------------------------------------------------------


def test_gpu_page_panels_and_energy(client, live_settings, world, fleet):
    vm = world["vms"][fx.TRAINING]
    client.force_login(world["owners"]["alpha"])
    page = client.get(reverse("vm_gpus", args=[vm.pk]), {"range": "6h"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "telemetry-message" not in html  # exporter up: nothing to explain
    assert html.count('class="card gpu-panel"') == len(metrics.CHART_PANELS) == 9
    assert reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]) + "?range=6h" in html

    with capture_queries() as queries:
        chart = client.get(reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]), {"range": "6h", "width": "720"}).json()
    assert len(queries) == 1  # one panel, one query, whatever the number of GPUs
    assert [gpu["uuid"] for gpu in chart["gpus"]] == [gpu.uuid for gpu in fx.TRAINING_GPUS]
    assert chart["gpus"][0]["model"] == "NVIDIA H100 80GB HBM3" and chart["gpus"][1]["index"] == "1"
    assert chart["step_seconds"] == 30 and chart["refresh_seconds"] == 30
    for gpu, spec in zip(chart["gpus"], fx.TRAINING_GPUS, strict=True):
        points = fleet.points("DCGM_FI_DEV_GPU_UTIL", **{"namespace": spec.namespace, "vm": spec.vm})[spec.uuid]
        expected = [v if v is not None and v <= 100 else None for v in sampled(points, chart["timestamps"])]
        assert gpu["values"] == expected
        present = [v for v in expected if v is not None]
        assert gpu["max"] == max(present) <= 100
        assert gpu["avg"] == pytest.approx(mean(present), rel=REL)

    energy = client.get(reverse("vm_gpu_energy", args=[vm.pk]), {"range": "1h"}, HTTP_HX_REQUEST="true")
    assert "<html" not in energy.content.decode()
    assert "kWh" in energy.content.decode()


def test_energy_kwh_over_a_range(fleet, gateway, world):
    vm = world["vms"][fx.INFERENCE]
    end = at(fleet.query_time)
    kwh = selectors.vm_energy_kwh(vm, start=end - timedelta(hours=1), end=end, gateway=gateway)
    (points,) = fleet.points(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", namespace=fx.INFERENCE[0], vm=fx.INFERENCE[1]
    ).values()
    times = [t for t, _ in points]
    first = bisect.bisect_right(times, fleet.query_time - 3600) - 1
    last = bisect.bisect_right(times, fleet.query_time) - 1
    expected = (points[last][1] - points[first][1]) / 3.6e9
    # increase() extrapolates over the ~30 s before the window's first sample (see
    # test_prometheus_live.test_energy_kwh_per_vm): one scrape interval's energy at most.
    one_scrape = (
        max(b - a for (_, a), (_, b) in zip(points[first:last], points[first + 1 : last + 1], strict=True)) / 3.6e9
    )
    assert kwh == pytest.approx(expected, abs=one_scrape)
    assert (
        selectors.vm_energy_kwh(
            world["vms"][fx.NEVER_INSTALLED], start=end - timedelta(hours=1), end=end, gateway=gateway
        )
        is None
    )


def test_dcp_panel_says_not_supported(client, live_settings, world):
    vm = world["vms"][fx.IDLE]  # this GPU has no profiling fields
    client.force_login(world["owners"]["beta"])
    chart = client.get(reverse("vm_gpu_panel", args=[vm.pk, "tensor_active"]), {"range": "1h"}).json()
    assert chart["gpus"] == []
    assert "does not support the profiling field DCGM_FI_PROF_PIPE_TENSOR_ACTIVE" in chart["message"]
    assert client.get(reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]), {"range": "1h"}).json()["gpus"]


def test_gpu_page_says_exporter_down_and_not_installed(client, live_settings, world):
    client.force_login(world["owners"]["gamma"])
    down = client.get(reverse("vm_gpus", args=[world["vms"][fx.EXPORTER_DOWN].pk])).content.decode()
    assert "The DCGM exporter in this VM is not answering" in down
    assert 'class="card gpu-panel"' in down  # history up to the failure is still charted
    missing = client.get(reverse("vm_gpus", args=[world["vms"][fx.NEVER_INSTALLED].pk])).content.decode()
    assert "The exporter is probably not installed" in missing
    assert "docker run -d --name dcgm-exporter" in missing
    assert "#cloud-config" in missing


@pytest.mark.parametrize(
    "query, field, message",
    [
        (
            {"range": "custom", "start": "2026-01-02T10:00", "end": "2026-01-02T09:00"},
            "end",
            "The end must be after the start.",
        ),
        (
            {"range": "custom", "start": "2025-01-01T00:00", "end": "2025-03-01T00:00"},
            "end",
            "A range covers at most 31 days.",
        ),
        (
            {"range": "custom", "start": "2998-12-31T00:00", "end": "2999-01-01T00:00"},
            "end",
            "The end cannot be in the future.",
        ),
        (
            {
                "range": "custom",
                "start": (timezone.localtime() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M"),
                "end": (timezone.localtime() + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M"),
            },
            "start",
            "The start cannot be in the future.",
        ),
        ({"range": "custom", "start": "yesterday", "end": ""}, "start", "Enter a valid date/time."),
        ({"range": "custom"}, "start", "Give the start of the range."),
        ({"range": "forever"}, "range", "Select a valid choice."),
    ],
)
def test_bad_custom_ranges_get_a_message_not_an_error(client, settings, world, query, field, message):
    settings.PROMETHEUS_URL = ""
    vm = world["vms"][fx.TRAINING]
    client.force_login(world["owners"]["alpha"])
    response = client.get(reverse("vm_gpus", args=[vm.pk]), query)
    assert response.status_code == 200
    assert message in response.content.decode()
    panel = client.get(reverse("vm_gpu_panel", args=[vm.pk, "power"]), query)
    assert panel.status_code == 503  # Prometheus not configured, but the range did not break it


def test_custom_range_charts_exactly_that_range(client, live_settings, world, fleet):
    vm = world["vms"][fx.TRAINING]
    client.force_login(world["owners"]["alpha"])
    end = datetime.fromtimestamp(fleet.end_grid - 3600, tz=UTC).astimezone()
    query = {
        "range": "custom",
        "start": (end - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "end": end.strftime("%Y-%m-%dT%H:%M"),
    }
    page = client.get(reverse("vm_gpus", args=[vm.pk]), query).content.decode()
    assert "field-error" not in page
    chart = client.get(reverse("vm_gpu_panel", args=[vm.pk, "temperature"]), {**query, "width": "400"}).json()
    assert chart["refresh_seconds"] == 0  # a past range does not move
    assert chart["timestamps"][0] <= (end - timedelta(hours=2)).timestamp()
    assert chart["timestamps"][-1] >= end.timestamp() - 60


# --- Prometheus down or slow ---------------------------------------------------------------------


def test_pages_render_the_message_when_prometheus_is_down(client, settings, world, make_user):
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.PROMETHEUS_TIMEOUT_SECONDS = 1
    admin = make_user("root", is_superuser=True)
    client.force_login(admin)
    vm = world["vms"][fx.TRAINING]
    started = time.monotonic()
    page = client.get(reverse("vm_gpus", args=[vm.pk])).content.decode()
    assert "cannot connect to Prometheus" in page
    panel = client.get(reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]))
    assert panel.status_code == 503 and "cannot connect to Prometheus" in panel.json()["error"]
    fleet_page = client.get(reverse("fleet")).content.decode()
    assert "cannot connect to Prometheus" in fleet_page and vm.name in fleet_page
    hours = client.get(reverse("gpu_hours")).content.decode()
    assert "cannot connect to Prometheus" in hours
    assert time.monotonic() - started < 8


def test_pages_render_within_the_timeout_when_prometheus_is_slow(client, settings, world, make_user):
    settings.PROMETHEUS_TIMEOUT_SECONDS = 0.5
    client.force_login(make_user("root", is_superuser=True))
    vm = world["vms"][fx.TRAINING]
    with FakePrometheus(delay=3) as slow:
        settings.PROMETHEUS_URL = slow.url
        for url in (
            reverse("vm_gpus", args=[vm.pk]),
            reverse("vm_gpu_panel", args=[vm.pk, "power"]),
            reverse("vm_gpu_energy", args=[vm.pk]),
        ):
            started = time.monotonic()
            response = client.get(url)
            assert time.monotonic() - started < 0.5 + 0.5, url
            assert "did not answer within 0.5 s" in response.content.decode(), url
        started = time.monotonic()
        assert "did not answer within 0.5 s" in client.get(reverse("fleet")).content.decode()
        assert time.monotonic() - started < 1.0


def test_not_configured_says_so(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["alpha"])
    page = client.get(reverse("vm_gpus", args=[world["vms"][fx.TRAINING].pk])).content.decode()
    assert "this portal has no Prometheus configured" in page


# --- Access --------------------------------------------------------------------------------------


def test_strangers_get_404_on_another_teams_gpu_pages(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["beta"])
    vm = world["vms"][fx.TRAINING]  # team alpha
    for url in (
        reverse("vm_gpus", args=[vm.pk]),
        reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]),
        reverse("vm_gpu_energy", args=[vm.pk]),
        reverse("vm_gpus", args=[987654]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("vm_gpu_panel", args=[world["vms"][fx.IDLE].pk, "nonsense"])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, world):
    response = client.get(reverse("vm_gpus", args=[world["vms"][fx.TRAINING].pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("fleet")).status_code == 302


def test_data_scientists_cannot_see_the_fleet(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["alpha"])  # a plain member
    assert client.get(reverse("fleet")).status_code == 403
    assert client.get(reverse("fleet"), {"format": "csv"}).status_code == 403
    assert client.get(reverse("gpu_hours")).status_code == 403
    assert "GPU fleet" not in client.get(reverse("vm_list")).content.decode()


def test_managers_see_their_team_only_admins_see_all(client, settings, world, make_user):
    settings.PROMETHEUS_URL = ""
    manager = make_user("maud")
    Membership.objects.create(team=world["teams"]["beta"], user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)
    html = client.get(reverse("fleet")).content.decode()
    assert "inference-api" in html and "notebook-idle" in html
    assert "llm-train" not in html and "exporter-down" not in html
    other = client.get(reverse("fleet"), {"team": world["teams"]["alpha"].pk}).content.decode()
    assert "llm-train" not in other
    assert "GPU fleet" in client.get(reverse("vm_list")).content.decode()

    client.force_login(make_user("root", is_superuser=True))
    html = client.get(reverse("fleet")).content.decode()
    assert all(name in html for _, name in world["vms"])


# --- Fleet ---------------------------------------------------------------------------------------


def test_fleet_figures_and_idle_flags(live_settings, fleet, gateway, world, make_user):
    admin = make_user("root", is_superuser=True)
    rows, problem = selectors.fleet_rows(admin, now=at(fleet.query_time), gateway=gateway)
    assert problem == ""
    by_name = {row.vm.name: row for row in rows}
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
    rows, _ = selectors.fleet_rows(make_user("root", is_superuser=True), now=at(fleet.query_time), gateway=gateway)
    assert next(row for row in rows if row.vm.pk == idle_vm.pk).idle is False


def test_fleet_sorts_and_exports_csv(client, live_settings, world, make_user):
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
    lines = csv_response.content.decode().splitlines()
    assert lines[0].startswith("vm,team,owner,gpu_model,gpus,avg_util_24h_percent")
    assert [line.split(",")[0] for line in lines[1:]] == sorted(name for _, name in world["vms"])
    idle_line = next(line for line in lines if line.startswith("notebook-idle,"))
    assert idle_line.endswith(",yes")
    assert client.get(reverse("fleet"), {"sort": "'; drop", "dir": "sideways"}).status_code == 200


def test_fleet_query_counts_do_not_grow_with_vms(client, live_settings, world, make_user):
    client.force_login(make_user("root", is_superuser=True))

    def costs():
        with CaptureQueriesContext(connection) as sql, capture_queries() as promql:
            assert client.get(reverse("fleet")).status_code == 200
        return len(sql), len(promql)

    few = costs()
    team = world["teams"]["beta"]
    for index in range(12):
        owner = make_user(f"extra{index}")
        Membership.objects.create(team=team, user=owner)
        make_vm(team=team, owner=owner, gpu=["L40S", "A100", "H100"][index % 3])
    assert costs() == few
    assert few[1] == 6  # avg/max over 24 h and 7 d, memory, power; the 24 h idle window is reused


# --- GPU-hours -----------------------------------------------------------------------------------


def _state_events(vm, changes):
    for when, state in changes:
        event = Event.objects.create(kind=Event.Kind.STATE, vm=vm, team=vm.team, data={"state": state})
        Event.objects.filter(pk=event.pk).update(created_at=when)


def test_gpu_hours_held_and_used(live_settings, fleet, gateway, world, make_user):
    end = at(fleet.query_time)
    # Off the 30 s grid, so no subquery instant lies on the window's edge.
    start = datetime.fromtimestamp(fleet.query_time - 6 * 3600, tz=UTC)
    training = world["vms"][fx.TRAINING]
    _state_events(
        training,
        [
            (end - timedelta(hours=10), "running"),
            (end - timedelta(hours=3), "stopping"),
            (end - timedelta(hours=2.9), "stopped"),
            (end - timedelta(hours=1), "starting"),
            (end - timedelta(hours=0.95), "running"),
        ],
    )
    # No events at all: the VM row says it has been running for 8 days.
    idle_vm = world["vms"][fx.IDLE]
    report = selectors.gpu_hours(make_user("root", is_superuser=True), start=start, end=end, now=end, gateway=gateway)
    rows = {row.label: row for row in report.vms}
    span_hours = (end - start).total_seconds() / 3600
    assert rows["llm-train"].held_hours == pytest.approx(
        2 * ((end - timedelta(hours=3) - start).total_seconds() / 3600 + 0.1 + 1), rel=REL
    )
    assert rows["notebook-idle"].held_hours == pytest.approx(span_hours, rel=REL)
    window = int((end - start).total_seconds())
    for key in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        instants = subquery_instants(fleet, window)
        expected = sum(
            sum(valid_util(points, instants)) / 100 * 30 / 3600
            for points in fleet.points("DCGM_FI_DEV_GPU_UTIL", namespace=key[0], vm=key[1]).values()
        )
        assert rows[key[1]].used_hours == pytest.approx(expected, rel=REL), key
    assert rows["no-exporter"].used_hours is None
    assert rows["notebook-idle"].used_percent < 5 < rows["llm-train"].used_percent
    teams = {row.label: row for row in report.teams}
    assert teams["beta"].held_hours == pytest.approx(
        rows["inference-api"].held_hours + idle_vm.gpu_count * span_hours, rel=REL
    )
    assert report.total.held_hours == pytest.approx(sum(row.held_hours for row in report.vms), rel=REL)
    users = {row.label: row for row in report.users}
    assert users["ada"].used_hours == pytest.approx(rows["llm-train"].used_hours, rel=REL)


def test_held_seconds_from_the_timeline():
    base = datetime(2026, 11, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    timeline = [
        (base - hour, "provisioning"),
        (base + hour, "running"),
        (base + 2 * hour, "stopping"),
        (base + 3 * hour, "stopped"),
        (base + 5 * hour, "deleting"),
        (base + 6 * hour, "deleted"),
    ]
    assert selectors.held_seconds(timeline, start=base, end=base + 10 * hour) == 3 * 3600
    assert selectors.held_seconds(timeline, start=base + 90 * timedelta(minutes=1), end=base + 10 * hour) == 1.5 * 3600
    assert selectors.held_seconds([], start=base, end=base + hour) == 0


def test_gpu_hours_page_month_validation_and_csv(client, settings, world, make_user):
    settings.PROMETHEUS_URL = ""
    client.force_login(make_user("root", is_superuser=True))
    page = client.get(reverse("gpu_hours"))
    assert page.status_code == 200 and "llm-train" in page.content.decode()
    for bad, message in (
        ("2026-13", "Give a month as YYYY-MM"),
        ("garbage", "Give a month as YYYY-MM"),
        ("2999-01", "That month has not started yet."),
    ):
        response = client.get(reverse("gpu_hours"), {"month": bad})
        assert response.status_code == 200 and message in response.content.decode(), bad
    old = client.get(reverse("gpu_hours"), {"month": "2020-01"}).content.decode()
    assert "No GPU was held this month." in old
    csv_text = client.get(reverse("gpu_hours"), {"format": "csv", "table": "team"}).content.decode()
    assert csv_text.splitlines()[0] == "name,team,owner,gpu_model,gpus,vms,held_gpu_hours,used_gpu_hours,used_percent"
    assert {line.split(",")[0] for line in csv_text.splitlines()[1:]} == {"alpha", "beta", "gamma"}


def test_gpu_hours_sql_count_does_not_grow(client, settings, world, make_user):
    settings.PROMETHEUS_URL = ""
    client.force_login(make_user("root", is_superuser=True))

    def count():
        with CaptureQueriesContext(connection) as sql:
            client.get(reverse("gpu_hours"))
        return len(sql)

    few = count()
    for _ in range(8):
        vm = make_vm(team=world["teams"]["alpha"], owner=world["owners"]["alpha"])
        _state_events(vm, [(vm.created_at, "running")])
    assert count() == few


# --- Idle policy ---------------------------------------------------------------------------------


def test_idle_policy_warns_once_then_withdraws(
    live_settings, fleet, gateway, world, django_capture_on_commit_callbacks
):
    now = at(fleet.query_time)
    idle_vm = world["vms"][fx.IDLE]
    with django_capture_on_commit_callbacks(execute=True):
        assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 1, "cleared": 0, "stopped": 0}
    status = IdleStatus.objects.get()
    assert status.vm_id == idle_vm.pk and status.warned_at == now
    assert status.average_percent == pytest.approx(expected_average(fleet, fx.IDLE, 86400), rel=REL)
    (event,) = Event.objects.filter(kind=Event.Kind.USAGE)
    assert event.vm_id == idle_vm.pk and "the owner was warned" in event.text
    assert [message.to for message in mail.outbox] == [["bob@example.org"]]
    assert "notebook-idle" in mail.outbox[0].subject
    assert f"http://127.0.0.1:8000/vms/{idle_vm.pk}/gpus/" in mail.outbox[0].body

    # The next pass finds it still idle: no second warning.
    with django_capture_on_commit_callbacks(execute=True):
        assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 0, "cleared": 0, "stopped": 0}
    assert len(mail.outbox) == 1

    # A lower bar makes the same GPUs busy: the warning is withdrawn, in the audit trail too.
    live_settings.IDLE_GPU_THRESHOLD_PERCENT = 0.001
    assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 0, "cleared": 1, "stopped": 0}
    assert not IdleStatus.objects.exists()
    assert "idle warning withdrawn" in Event.objects.filter(kind=Event.Kind.USAGE).first().text


def test_idle_banner_on_the_gpu_page(client, live_settings, fleet, gateway, world):
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    client.force_login(world["owners"]["beta"])
    assert "have been idle since" in client.get(reverse("vm_gpus", args=[world["vms"][fx.IDLE].pk])).content.decode()
    busy = client.get(reverse("vm_gpus", args=[world["vms"][fx.INFERENCE].pk])).content.decode()
    assert "have been idle since" not in busy


def test_stopped_vms_leave_the_idle_policy(live_settings, fleet, gateway, world):
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    VirtualMachine.objects.filter(pk=world["vms"][fx.IDLE].pk).update(state="stopped")
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    assert not IdleStatus.objects.exists()


def test_panel_json_is_valid_json_without_nan(client, live_settings, world):
    client.force_login(world["owners"]["alpha"])
    body = client.get(
        reverse("vm_gpu_panel", args=[world["vms"][fx.TRAINING].pk, "fb_used_percent"]), {"range": "24h"}
    ).content.decode()
    assert "NaN" not in body
    assert json.loads(body)["unit"] == "%"


def test_idle_policy_stops_the_vm_after_the_grace_period(
    live_settings, fleet, gateway, world, django_capture_on_commit_callbacks
):
    now = at(fleet.query_time)
    idle_vm = world["vms"][fx.IDLE]
    live_settings.IDLE_GPU_STOP_AFTER_HOURS = 2
    with django_capture_on_commit_callbacks() as enqueued:
        assert check_idle_gpus(now=now, gateway=gateway)["stopped"] == 0  # just warned
        assert check_idle_gpus(now=now + timedelta(hours=1), gateway=gateway)["stopped"] == 0
        assert check_idle_gpus(now=now + timedelta(hours=2), gateway=gateway) == {
            "warned": 0,
            "cleared": 0,
            "stopped": 1,
        }
    idle_vm.refresh_from_db()
    assert idle_vm.state == VirtualMachine.State.STOPPING
    texts = [event.text for event in Event.objects.filter(vm=idle_vm).order_by("created_at", "pk")]
    assert "the owner was warned" in texts[0]
    assert "the VM is stopped, its disks are kept" in texts[1]
    assert texts[2] == "Stopping"
    assert len(enqueued) == 2  # the warning email, then the cluster work of the stop
    # Once stopping, the VM is out of the policy; the busy VMs were never touched.
    assert check_idle_gpus(now=now + timedelta(hours=3), gateway=gateway)["stopped"] == 0
    assert not IdleStatus.objects.exists()
    assert VirtualMachine.objects.filter(state="running").count() == len(world["vms"]) - 1


def test_idle_policy_never_stops_when_disabled(live_settings, fleet, gateway, world):
    live_settings.IDLE_GPU_STOP_AFTER_HOURS = 0
    now = at(fleet.query_time)
    assert check_idle_gpus(now=now, gateway=gateway)["warned"] == 1
    # Three hours later the VM is still idle (the stop test stops it at two): disabled, it keeps running.
    assert check_idle_gpus(now=now + timedelta(hours=3), gateway=gateway)["stopped"] == 0
    assert VirtualMachine.objects.get(pk=world["vms"][fx.IDLE].pk).state == "running"
