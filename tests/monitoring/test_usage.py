"""The GPU-hours report: time in GPU-holding states, per team and month."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from monitoring import usage
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.expected import at
from tests.monitoring.test_prometheus_live import subquery_instants, valid_util
from tests.vms.factories import make_vm
from vms.models import Event

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]
REL = 1e-9


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
    report = usage.gpu_hours(make_user("root", is_superuser=True), start=start, end=end, now=end, gateway=gateway)
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
    assert usage.held_seconds(timeline, start=base, end=base + 10 * hour) == 3 * 3600
    assert usage.held_seconds(timeline, start=base + 90 * timedelta(minutes=1), end=base + 10 * hour) == 1.5 * 3600
    assert usage.held_seconds([], start=base, end=base + hour) == 0


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
    csv_text = b"".join(client.get(reverse("gpu_hours"), {"format": "csv", "table": "team"}).streaming_content).decode()
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
