"""A VM's GPU page and the approver queue's utilisation figures, against a real Prometheus
loaded with the fixture history (tests/monitoring/dcgm_fixtures.py), and what they say when
Prometheus is down or slow."""

import bisect
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from monitoring import metrics, telemetry
from monitoring.fleet import fleet_figures_refresh
from monitoring.prometheus import PrometheusError, capture_queries
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.expected import at, expected_average
from tests.monitoring.test_gateway import FakePrometheus
from tests.monitoring.test_prometheus_live import mean, sampled
from tests.support.processes import free_port

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]
REL = 1e-9


def test_utilisation_by_vm_is_one_query_with_none_where_no_data(fleet, gateway, world):
    vms = list(world["vms"].values())
    with capture_queries() as queries:
        figures = telemetry.utilisation_by_vm(vms, window_seconds=86400, at=at(fleet.query_time), gateway=gateway)
    assert len(queries) == 1
    for key in (fx.TRAINING, fx.INFERENCE, fx.IDLE):
        assert figures[world["vms"][key].pk] == pytest.approx(expected_average(fleet, key, 86400), rel=REL)
    assert figures[world["vms"][fx.NEVER_INSTALLED].pk] is None
    assert telemetry.utilisation_by_vm([], window_seconds=3600, gateway=gateway) == {}


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
    kwh = telemetry.vm_energy_kwh(vm, start=end - timedelta(hours=1), end=end, gateway=gateway)
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
        telemetry.vm_energy_kwh(
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
    # The encoded answer is kept per language: the next reader in French reads French.
    french = client.get(
        reverse("vm_gpu_panel", args=[vm.pk, "tensor_active"]), {"range": "1h"}, HTTP_ACCEPT_LANGUAGE="fr"
    ).json()
    assert french["message"].startswith("Non remonté par ce GPU") and french["gpus"] == chart["gpus"]


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
            # Built when the test runs: at collection, "2 minutes from now" is past by then.
            lambda: {
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
    query = query() if callable(query) else query
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
    with pytest.raises(PrometheusError):
        fleet_figures_refresh()  # the periodic task: it records why, the page says it
    fleet_page = client.get(reverse("fleet")).content.decode()
    assert 'data-figures="pending"' in fleet_page and "cannot connect to Prometheus" in fleet_page
    assert vm.name in fleet_page
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
        # The fleet view does not ask Prometheus at all: the periodic refresh does, and it is
        # the one that waits (tests/monitoring/test_fleet.py).
        with capture_queries() as promql:
            assert 'data-figures="pending"' in client.get(reverse("fleet")).content.decode()
        assert promql == []


def test_not_configured_says_so(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["alpha"])
    page = client.get(reverse("vm_gpus", args=[world["vms"][fx.TRAINING].pk])).content.decode()
    assert "this portal has no Prometheus configured" in page


def test_the_same_panel_asked_twice_within_a_scrape_interval_is_one_prometheus_query(client, live_settings, world):
    cache.clear()
    client.force_login(world["owners"]["alpha"])
    url = reverse("vm_gpu_panel", args=[world["vms"][fx.TRAINING].pk, "gpu_util"])

    with capture_queries() as promql:
        first = client.get(url, {"range": "7d"}).json()
        second = client.get(url, {"range": "7d"}).json()

    assert len(promql) == 1
    assert first["gpus"] and first["gpus"] == second["gpus"] and first["timestamps"] == second["timestamps"]
