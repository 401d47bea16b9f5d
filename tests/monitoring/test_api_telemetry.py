"""A VM's GPU series through the REST API: the charts' own series, against the real Prometheus."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from monitoring import metrics
from monitoring.prometheus import capture_queries
from tests.cli.test_cli import run
from tests.monitoring import dcgm_fixtures as fx
from tests.support.processes import free_port
from tests.vms.api.conftest import ApiClient, bearer

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]


def test_the_api_serves_the_charts_series(client, live_settings, world):
    cache.clear()
    owner, vm = world["owners"]["alpha"], world["vms"][fx.TRAINING]
    api = ApiClient(bearer(owner))
    client.force_login(owner)
    # The same six hours for both: a range ending now would move by a step if a minute turned
    # between the two requests.
    end = timezone.now().replace(second=0, microsecond=0)
    window = {"range": "custom", "start": (end - timedelta(hours=6)).isoformat(), "end": end.isoformat()}
    with capture_queries() as promql:
        body = api.get(f"/api/v1/vms/{vm.pk}/gpus/", {**window, "step": 60, "panels": "gpu_util,power"}).json()
    assert len(promql) == 2  # one query per panel, whatever the number of GPUs
    assert body["step_seconds"] == 60
    assert [panel["panel"] for panel in body["panels"]] == ["gpu_util", "power"]
    chart = client.get(reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]), {**window, "width": "360"}).json()
    assert chart["step_seconds"] == 60
    assert body["panels"][0]["gpus"] == chart["gpus"] and body["panels"][0]["timestamps"] == chart["timestamps"]
    assert len(chart["timestamps"]) > 300 and any(value is not None for value in chart["gpus"][0]["values"])
    every = api.get(f"/api/v1/vms/{vm.pk}/gpus/").json()
    assert [panel["panel"] for panel in every["panels"]] == list(metrics.CHART_PANELS)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"range": "2d"}, "range"),
        ({"step": "0"}, "step"),
        ({"panels": "gpu_util,bogus"}, "panels"),
        ({"range": "custom"}, "start"),
        ({"range": "custom", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ],
)
def test_bad_queries_are_refused_on_their_field(live_settings, world, query, field):
    api = ApiClient(bearer(world["owners"]["alpha"]))
    response = api.get(f"/api/v1/vms/{world['vms'][fx.TRAINING].pk}/gpus/", query)
    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}


def test_prometheus_down_is_a_503_that_says_so(settings, world):
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.PROMETHEUS_TIMEOUT_SECONDS = 1
    api = ApiClient(bearer(world["owners"]["alpha"]))
    response = api.get(f"/api/v1/vms/{world['vms'][fx.TRAINING].pk}/gpus/", {"panels": "gpu_util"})
    assert response.status_code == 503
    (error,) = response.json()["errors"]
    assert error["code"] == "telemetry_unavailable" and "cannot connect to Prometheus" in error["message"]


@pytest.mark.django_db(transaction=True)
def test_the_command_line_prints_a_compact_gpu_table(live_server, live_settings, world, tmp_path):
    owner, vm = world["owners"]["alpha"], world["vms"][fx.TRAINING]
    home = tmp_path / "home"
    home.mkdir()
    assert run(home, "login", "--url", live_server.url, "--token", "-", stdin=bearer(owner)).returncode == 0
    result = run(home, "vm", "gpus", f"alpha/{vm.name}", "--range", "6h")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["GPU", "MODEL", "UTIL%"]
    assert len(rows) == len(fx.TRAINING_GPUS)
    assert rows[0].split()[:5] == ["0", "NVIDIA", "H100", "80GB", "HBM3"]
