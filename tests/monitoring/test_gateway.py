"""The gateway's failure handling, against a port nobody listens on and a small local HTTP
server that misbehaves on purpose; and its conversion of results to chart data."""

import base64
import json
import math
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitoring import prometheus, promql
from monitoring.prometheus import Config, PrometheusError, PrometheusGateway, Series, chart_data
from tests.support.processes import free_port

MARGIN = 0.5
EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


class FakePrometheus:
    """Answers every request with `status` and `body` after `delay` seconds, and records the
    requests it saw."""

    def __init__(self, *, status=200, body=EMPTY_VECTOR, delay=0.0):
        self.status, self.body, self.delay = status, body, delay
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append({"path": self.path, "headers": dict(self.headers)})
                time.sleep(fake.delay)
                payload = fake.body if isinstance(fake.body, bytes) else json.dumps(fake.body).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up waiting, as it should

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll keeps shutdown() from waiting half a second per test.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def failing_call(gateway: PrometheusGateway) -> tuple[PrometheusError, float]:
    started = time.monotonic()
    with pytest.raises(PrometheusError) as raised:
        gateway.instant("up")
    return raised.value, time.monotonic() - started


def test_prometheus_down_is_retried_a_bounded_number_of_times_within_the_budget():
    gateway = PrometheusGateway(Config(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2, retries=2))
    error, elapsed = failing_call(gateway)
    assert (error.kind, error.retryable) == (prometheus.UNREACHABLE, True)
    assert gateway.attempts == 3
    assert elapsed < 2 + MARGIN


def test_slow_prometheus_times_out_within_the_budget():
    with FakePrometheus(delay=3) as fake:
        gateway = PrometheusGateway(Config(url=fake.url, timeout_seconds=0.5, retries=3))
        error, elapsed = failing_call(gateway)
    assert (error.kind, error.retryable) == (prometheus.TIMEOUT, True)
    assert elapsed < 0.5 + MARGIN
    # The first attempt spent the whole budget: no retry can fit in what is left.
    assert gateway.attempts == len(fake.requests) == 1


def test_prometheus_timeout_is_passed_to_the_server():
    with FakePrometheus() as fake:
        PrometheusGateway(Config(url=fake.url, timeout_seconds=3)).instant("up")
    assert "timeout=" in fake.requests[0]["path"]


def test_server_errors_are_retried_a_bounded_number_of_times():
    body = {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    with FakePrometheus(status=503, body=body) as fake:
        gateway = PrometheusGateway(Config(url=fake.url, timeout_seconds=5, retries=2))
        error, elapsed = failing_call(gateway)
    assert (error.kind, error.retryable) == (prometheus.SERVER, True)
    assert error.message == "Prometheus answered HTTP 503: too many queries"
    assert gateway.attempts == len(fake.requests) == 3
    assert elapsed < 1  # backoff 0.1 s then 0.2 s


@pytest.mark.parametrize(
    "status, kind",
    [
        (400, prometheus.BAD_QUERY),
        (422, prometheus.BAD_QUERY),
        (401, prometheus.AUTH),
        (403, prometheus.AUTH),
        (404, prometheus.SERVER),
    ],
)
def test_client_errors_are_not_retried(status, kind):
    body = {"status": "error", "errorType": "bad_data", "error": "nope"}
    with FakePrometheus(status=status, body=body) as fake:
        gateway = PrometheusGateway(Config(url=fake.url, timeout_seconds=5, retries=2))
        error, _ = failing_call(gateway)
    assert (error.kind, error.retryable) == (kind, False)
    assert gateway.attempts == len(fake.requests) == 1


def test_a_response_that_is_not_the_api_is_a_server_error():
    with FakePrometheus(body=b"<html>login</html>") as fake:
        gateway = PrometheusGateway(Config(url=fake.url, timeout_seconds=5))
        error, _ = failing_call(gateway)
    assert (error.kind, error.retryable) == (prometheus.SERVER, False)
    assert gateway.attempts == 1


def test_a_scalar_result_is_refused():
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "1"]}}
    with FakePrometheus(body=body) as fake:
        error, _ = failing_call(PrometheusGateway(Config(url=fake.url)))
    assert error.kind == prometheus.BAD_QUERY


def test_bearer_token_and_basic_auth_are_sent():
    with FakePrometheus() as fake:
        PrometheusGateway(Config(url=fake.url, bearer_token="s3cret")).instant("up")
        PrometheusGateway(Config(url=fake.url, username="portal", password="pw")).instant("up")
        PrometheusGateway(Config(url=fake.url)).instant("up")
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert fake.requests[1]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"portal:pw").decode()
    assert "Authorization" not in fake.requests[2]["headers"]


def test_results_become_series():
    body = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"vm": "a"}, "value": [1700000000.5, "42.5"]},
                {"metric": {"vm": "b"}, "value": [1700000000.5, "NaN"]},
            ],
        },
    }
    with FakePrometheus(body=body) as fake:
        series = PrometheusGateway(Config(url=fake.url)).instant("x", at=datetime(2023, 11, 14, tzinfo=UTC))
    assert series[0] == Series(labels={"vm": "a"}, points=[(1700000000.5, 42.5)])
    assert math.isnan(series[1].points[0][1])
    assert "time=1699920000" in fake.requests[0]["path"]


def test_not_configured():
    gateway = PrometheusGateway(Config(url=""))
    error, _ = failing_call(gateway)
    assert (error.kind, error.retryable) == (prometheus.NOT_CONFIGURED, False)
    assert gateway.reachable() == (False, "PROMETHEUS_URL is not set")


def test_reachable_makes_one_attempt_and_says_why_not():
    gateway = PrometheusGateway(Config(url=f"http://127.0.0.1:{free_port()}", retries=5))
    reachable, detail = gateway.reachable()
    assert not reachable and "cannot connect" in detail
    assert gateway.attempts == 1


def test_capture_queries_sees_every_gateway():
    with FakePrometheus() as fake, prometheus.capture_queries() as captured:
        PrometheusGateway(Config(url=fake.url)).instant("up")
        PrometheusGateway(Config(url=fake.url)).instant("vector(2)")
    assert captured == ["up", "vector(2)"]
    PrometheusGateway(Config(url="")).reachable()
    assert captured == ["up", "vector(2)"]


def test_config_from_settings_defaults(settings):
    for name in (
        "PROMETHEUS_RETRIES",
        "PROMETHEUS_BEARER_TOKEN",
        "MONITORING_VM_LABEL",
        "MONITORING_EXPORTER_JOB",
        "PROMETHEUS_SCRAPE_INTERVAL_SECONDS",
    ):
        if hasattr(settings, name):
            delattr(settings, name)
    settings.PROMETHEUS_URL = "http://prometheus:9090"
    settings.PROMETHEUS_TIMEOUT_SECONDS = 4.0
    config = prometheus.config_from_settings()
    assert config == Config(url="http://prometheus:9090", timeout_seconds=4.0)


def test_config_from_settings_overrides(settings):
    settings.PROMETHEUS_URL = "https://prom.example"
    settings.PROMETHEUS_RETRIES = 0
    settings.PROMETHEUS_BEARER_TOKEN = "t"
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 15
    settings.MONITORING_NAMESPACE_LABEL = "kubernetes_namespace"
    settings.MONITORING_VM_LABEL = "kubevirt_vm"
    settings.MONITORING_EXPORTER_JOB = ""
    config = prometheus.config_from_settings()
    assert (config.retries, config.bearer_token, config.scrape_interval_seconds, config.exporter_job) == (
        0,
        "t",
        15,
        "",
    )
    assert config.labels == promql.LabelNames(namespace="kubernetes_namespace", vm="kubevirt_vm")
    settings.MONITORING_VM_LABEL = "vm-name"
    with pytest.raises(ValueError):
        prometheus.config_from_settings()


def test_chart_data_aligns_gpus_on_one_time_axis():
    start, step = 1_700_000_040.0, 60
    series = [
        Series(
            {"UUID": "GPU-b", "gpu": "1", "modelName": "H100"},
            [(start, 10.0), (start + 120, 30.0), (start + 180, float("nan"))],
        ),
        Series(
            {"UUID": "GPU-a", "gpu": "0", "modelName": "H100"},
            [(start + 60, 5.0), (start + 120, 7.0), (start + 180, 9.0)],
        ),
    ]
    chart = chart_data(series, start=start, end=start + 180, step_seconds=step)
    assert chart["timestamps"] == [start, start + 60, start + 120, start + 180]
    first, second = chart["gpus"]
    assert (first["uuid"], first["index"], first["model"]) == ("GPU-a", "0", "H100")
    assert first["values"] == [None, 5.0, 7.0, 9.0]
    assert (first["current"], first["avg"], first["max"]) == (9.0, 7.0, 9.0)
    assert second["values"] == [10.0, None, 30.0, None]
    # The last point is empty: "current" is the newest of the last two points.
    assert (second["current"], second["avg"], second["max"]) == (30.0, 20.0, 30.0)
    json.dumps(chart, allow_nan=False)


def test_chart_data_orders_gpu_10_after_gpu_2_and_handles_no_data():
    series = [Series({"UUID": u, "gpu": g}, []) for u, g in (("c", "10"), ("a", "2"), ("b", ""))]
    chart = chart_data(series, start=0, end=60, step_seconds=30)
    assert [g["index"] for g in chart["gpus"]] == ["2", "10", ""]
    assert chart["gpus"][0] | {"values": None} == {
        "uuid": "a",
        "index": "2",
        "model": "",
        "values": None,
        "current": None,
        "avg": None,
        "max": None,
    }


def test_current_is_the_newest_sample_when_the_aligned_end_has_none_yet():
    series = [Series({"UUID": "GPU-1", "gpu": "0", "modelName": "H100"}, [(0.0, 10.0), (60.0, 20.0)])]
    (gpu,) = chart_data(series, start=0.0, end=120.0, step_seconds=60)["gpus"]
    assert gpu["values"] == [10.0, 20.0, None]
    assert gpu["current"] == 20.0
