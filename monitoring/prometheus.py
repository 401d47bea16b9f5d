"""The Prometheus gateway: the only module that talks to Prometheus.

It wraps prometheus-api-client's PrometheusConnect (core install: no pandas) with an explicit
time budget, bounded retries on the failures a retry can cure, and one exception type,
PrometheusError, whose `kind` and `retryable` tell callers what to show or whether to retry.

PROMETHEUS_TIMEOUT_SECONDS bounds a whole gateway call, retries included, because it is what a
page waits at most: quick failures (connection refused while Prometheus restarts, 503 from
an overloaded server) are retried with a short backoff; a timeout has used up the budget and
is raised at once."""

import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.core.cache import cache
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from hikube_portal.redact import redact, url_without_credentials
from monitoring import metrics, promql

UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
BAD_QUERY = "bad_query"
AUTH = "auth"
SERVER = "server"
NOT_CONFIGURED = "not_configured"

# First pause between attempts; doubled after each failure, always within the time budget.
RETRY_BACKOFF_SECONDS = 0.1


class PrometheusError(Exception):
    def __init__(self, message: str, *, kind: str, retryable: bool):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Config:
    url: str = ""
    # Budget for one gateway call, retries included: what a page waits at most.
    timeout_seconds: float = 5.0
    retries: int = 2
    bearer_token: str = ""
    username: str = ""
    password: str = ""
    scrape_interval_seconds: int = promql.DEFAULT_SCRAPE_INTERVAL
    labels: promql.LabelNames = promql.DEFAULT_LABELS
    # `job` of the portal's scrape configuration for in-guest exporters; empty = any job.
    exporter_job: str = "dcgm-exporter"


def config_from_settings() -> Config:
    """The one place that reads monitoring settings."""
    return Config(
        url=getattr(settings, "PROMETHEUS_URL", ""),
        timeout_seconds=getattr(settings, "PROMETHEUS_TIMEOUT_SECONDS", 5.0),
        retries=getattr(settings, "PROMETHEUS_RETRIES", 2),
        bearer_token=getattr(settings, "PROMETHEUS_BEARER_TOKEN", ""),
        username=getattr(settings, "PROMETHEUS_USERNAME", ""),
        password=getattr(settings, "PROMETHEUS_PASSWORD", ""),
        scrape_interval_seconds=getattr(settings, "PROMETHEUS_SCRAPE_INTERVAL_SECONDS", promql.DEFAULT_SCRAPE_INTERVAL),
        labels=promql.LabelNames(
            namespace=getattr(settings, "MONITORING_NAMESPACE_LABEL", "namespace"),
            vm=getattr(settings, "MONITORING_VM_LABEL", "vm"),
        ),
        exporter_job=getattr(settings, "MONITORING_EXPORTER_JOB", "dcgm-exporter"),
    )


_shared: dict[Config, "PrometheusGateway"] = {}
_shared_lock = threading.Lock()

# Callbacks told about every query any gateway sends; see capture_queries().
_listeners: list[Callable[[str], None]] = []
_listeners_lock = threading.Lock()


@contextlib.contextmanager
def capture_queries() -> Iterator[list[str]]:
    """Collect the PromQL of every query sent inside the block, from any gateway and thread,
    so tests can assert that a page or panel costs a fixed number of queries."""
    captured: list[str] = []
    with _listeners_lock:
        _listeners.append(captured.append)
    try:
        yield captured
    finally:
        with _listeners_lock:
            _listeners.remove(captured.append)


def shared_gateway() -> "PrometheusGateway":
    """This process's gateway for the current settings: one HTTP session, whose connections
    stay open between requests, instead of a new one (and a new TCP connection) per page."""
    config = config_from_settings()
    with _shared_lock:
        gateway = _shared.get(config)
        if gateway is None:
            gateway = _shared[config] = PrometheusGateway(config)
    return gateway


class PrometheusGateway:
    def __init__(self, config: Config | None = None):
        self.config = config or config_from_settings()
        # Counters for tests and diagnostics: logical queries, and HTTP requests made for them.
        self.attempts = 0
        self._client = None
        self._last_response = threading.local()
        if self.config.url:
            session = requests.Session()
            # The client raises on non-200 without the response; keep it to read the status
            # code and Prometheus' own error message.
            session.hooks["response"].append(self._remember_response)
            token = self.config.bearer_token
            headers = {"Authorization": f"Bearer {token}"} if token else None
            auth = (self.config.username, self.config.password) if self.config.username else None
            self._client = PrometheusConnect(
                url=self.config.url.rstrip("/"),
                headers=headers,
                auth=auth,
                session=session,
                timeout=self.config.timeout_seconds,
                # No transport-level retries (the client's default retries 3 times with 1 s
                # backoff, beyond any page's patience); _call() retries within the budget.
                retry=Retry(total=0, read=False),
            )

    def instant(self, query: str, *, at: datetime | None = None) -> list[Series]:
        params = {} if at is None else {"time": at.timestamp()}
        result = self._call(
            query,
            lambda client, timeout: client.custom_query(query, params={**params, "timeout": timeout}, timeout=timeout),
        )
        return [_series(item, "value") for item in _vector(result)]

    def range(self, query: str, *, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        result = self._call(
            query,
            lambda client, timeout: client.custom_query_range(
                query,
                start_time=start,
                end_time=end,
                step=str(step_seconds),
                params={"timeout": timeout},
                timeout=timeout,
            ),
        )
        return [_series(item, "values") for item in _vector(result)]

    def reachable(self) -> tuple[bool, str]:
        """For the health endpoint: one attempt at a trivial query, and what went wrong."""
        try:
            self._call(
                "vector(1)",
                lambda client, timeout: client.custom_query("vector(1)", params={"timeout": timeout}, timeout=timeout),
                attempts=1,
            )
        except PrometheusError as error:
            return False, error.message
        return True, "ok"

    def panel_query(
        self, key: str, *, namespace: str, vm: str, start: datetime, end: datetime, width_px: int
    ) -> promql.PanelQuery:
        return promql.panel_query(
            key,
            namespace=namespace,
            vm=vm,
            start=start,
            end=end,
            width_px=width_px,
            labels=self.config.labels,
            scrape_interval=self.config.scrape_interval_seconds,
        )

    def panel_cache_key(self, query: promql.PanelQuery) -> str:
        """Start and end are aligned to the step: viewers of the same VM and range, and a page's
        refresh, ask the very same query within a scrape interval, and get the same answer."""
        return (
            "monitoring.panel:"
            + hashlib.sha256(
                f"{self.config.url}|{query.query}|{query.start.timestamp()}|{query.end.timestamp()}|"
                f"{query.step_seconds}".encode()
            ).hexdigest()
        )

    @property
    def panel_cache_seconds(self) -> int:
        """Less than a scrape interval: no answer is older than the data Prometheus holds."""
        return max(1, self.config.scrape_interval_seconds // 2)

    def panel(self, key: str, *, namespace: str, vm: str, start: datetime, end: datetime, width_px: int) -> dict:
        """One chart panel for all GPUs of a VM: one range query, JSON-ready."""
        return self.panel_for(
            key, self.panel_query(key, namespace=namespace, vm=vm, start=start, end=end, width_px=width_px)
        )

    def panel_for(self, key: str, query: promql.PanelQuery) -> dict:
        """The panel `key` for a query panel_query() built."""
        cache_key = self.panel_cache_key(query)
        data = cache.get(cache_key)
        if data is None:
            series = self.range(query.query, start=query.start, end=query.end, step_seconds=query.step_seconds)
            data = chart_data(
                series, start=query.start.timestamp(), end=query.end.timestamp(), step_seconds=query.step_seconds
            )
            cache.set(cache_key, data, timeout=self.panel_cache_seconds)
        spec = metrics.panel(key)
        return {
            "panel": key,
            "title": str(spec.title),
            "unit": str(spec.unit),
            "dcp": spec.dcp,
            "step_seconds": query.step_seconds,
            **data,
        }

    def _call(self, query: str, send: Callable, *, attempts: int | None = None):
        if self._client is None:
            raise PrometheusError("PROMETHEUS_URL is not set", kind=NOT_CONFIGURED, retryable=False)
        with _listeners_lock:
            listeners = list(_listeners)
        for listener in listeners:
            listener(query)
        max_attempts = attempts or self.config.retries + 1
        deadline = time.monotonic() + self.config.timeout_seconds
        backoff = RETRY_BACKOFF_SECONDS
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                return self._send_once(send, deadline - time.monotonic())
            except PrometheusError as error:
                out_of_time = time.monotonic() + backoff >= deadline
                if not error.retryable or attempt >= max_attempts or out_of_time:
                    raise
            time.sleep(backoff)
            backoff *= 2

    def _send_once(self, send: Callable, timeout: float):
        self._last_response.value = None
        try:
            return send(self._client, timeout)
        except requests.Timeout as exc:
            raise PrometheusError(
                f"Prometheus did not answer within {self.config.timeout_seconds:g} s", kind=TIMEOUT, retryable=True
            ) from exc
        except requests.ConnectionError as exc:
            # The exception's text repeats the whole query URL; it stays in the chained cause.
            raise PrometheusError(
                f"cannot connect to Prometheus at {url_without_credentials(self.config.url)}",
                kind=UNREACHABLE,
                retryable=True,
            ) from exc
        except PrometheusApiClientException as exc:
            raise self._http_error() from exc
        except (requests.JSONDecodeError, KeyError, TypeError) as exc:
            raise PrometheusError(
                f"Prometheus sent a response that is not its API's JSON: {exc}", kind=SERVER, retryable=False
            ) from exc
        except requests.RequestException as exc:
            raise PrometheusError(
                f"cannot query Prometheus at {url_without_credentials(self.config.url)}: {redact(str(exc))}",
                kind=UNREACHABLE,
                retryable=False,
            ) from exc

    def _remember_response(self, response, *args, **kwargs):
        self._last_response.value = response

    def _http_error(self) -> PrometheusError:
        response = self._last_response.value
        status = response.status_code
        try:
            detail = response.json().get("error") or response.reason
        except ValueError:
            detail = response.reason
        message = f"Prometheus answered HTTP {status}: {detail}"
        if status in (400, 422):
            return PrometheusError(message, kind=BAD_QUERY, retryable=False)
        if status in (401, 403):
            return PrometheusError(message, kind=AUTH, retryable=False)
        return PrometheusError(message, kind=SERVER, retryable=status >= 500 or status in (408, 429))


def _vector(result) -> list[dict]:
    if not isinstance(result, list) or any(not isinstance(item, dict) for item in result):
        raise PrometheusError(
            "the query must return an instant vector or a range vector", kind=BAD_QUERY, retryable=False
        )
    return result


def _series(item: dict, key: str) -> Series:
    raw = item[key] if key == "values" else [item[key]]
    return Series(labels=item["metric"], points=[(float(ts), float(value)) for ts, value in raw])


def _number(value: float) -> float | None:
    # JSON has no NaN or infinity; a chart shows them as gaps.
    return value if math.isfinite(value) else None


def chart_data(series: list[Series], *, start: float, end: float, step_seconds: int) -> dict:
    """A range result as a chart: one timestamps array and, per GPU, values aligned on it
    (None where Prometheus had no sample within its lookback), plus current, mean and max.

    The mean and max are of the charted points, i.e. of the series sampled at the step."""
    timestamps = [start + i * step_seconds for i in range(int((end - start) // step_seconds) + 1)]
    index = {ts: position for position, ts in enumerate(timestamps)}
    gpus = []
    for item in series:
        values: list[float | None] = [None] * len(timestamps)
        for ts, value in item.points:
            if ts in index:
                values[index[ts]] = _number(value)
        present = [value for value in values if value is not None]
        # The last instant is aligned up to a step past the end, where no sample exists yet:
        # "current" is the newest of the last two points.
        recent = [value for value in values[-2:] if value is not None]
        gpus.append(
            {
                "uuid": item.labels.get(metrics.GPU_UUID_LABEL, ""),
                "index": item.labels.get(metrics.GPU_INDEX_LABEL, ""),
                "model": item.labels.get(metrics.GPU_MODEL_LABEL, ""),
                "values": values,
                "current": recent[-1] if recent else None,
                "avg": sum(present) / len(present) if present else None,
                "max": max(present) if present else None,
            }
        )
    gpus.sort(key=lambda gpu: (int(gpu["index"]) if gpu["index"].isdecimal() else math.inf, gpu["uuid"]))
    return {"timestamps": timestamps, "gpus": gpus}
