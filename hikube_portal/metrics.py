"""The portal's own metrics, in Prometheus' format (prometheus_client).

Web processes count requests (a middleware); Celery workers time their tasks and count their
failures (signals); the status sync reports its cycle; the cluster gateway counts the errors
the API server answers with. What depends on the database (VMs by state, the waitlist) is read
when scraped, by the /metrics view.

Several processes write, one answers a scrape: gunicorn's workers and Celery's pool children
each keep their own values. With PROMETHEUS_MULTIPROC_DIR set (prometheus_client's own
variable, read when it is imported) they write them to files there, and a scrape adds them up.
Without it (runserver, the tests' own process) the values stay in the process.
"""

import os
import time
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # Metrics without labels open their file as soon as they are defined, below.
    Path(MULTIPROCESS_DIR).mkdir(parents=True, exist_ok=True)
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

HTTP_REQUESTS = Counter(
    "portal_http_requests_total", "HTTP requests answered, by view, method and status.", ["view", "method", "status"]
)
HTTP_DURATION = Histogram("portal_http_request_duration_seconds", "Time to answer an HTTP request, by view.", ["view"])
TASK_DURATION = Histogram(
    "portal_task_duration_seconds",
    "Time a Celery task ran, by task and outcome (success, failure, retry).",
    ["task", "outcome"],
    buckets=TASK_BUCKETS,
)
TASK_FAILURES = Counter("portal_task_failures_total", "Celery tasks that raised, by task.", ["task"])
SYNC_DURATION = Histogram(
    "portal_sync_cycle_duration_seconds", "Time one status-sync cycle took.", buckets=TASK_BUCKETS
)
SYNC_LIST_CALLS = Gauge(
    "portal_sync_cycle_list_calls",
    "LIST calls the last status-sync cycle made to the cluster API.",
    multiprocess_mode="mostrecent",
)
SYNC_FAILED_NAMESPACES = Gauge(
    "portal_sync_cycle_failed_namespaces",
    "Namespaces the last status-sync cycle could not read.",
    multiprocess_mode="mostrecent",
)
CLUSTER_ERRORS = Counter(
    "portal_cluster_errors_total", "Errors the cluster API answered with (or its silence), by reason.", ["reason"]
)


def _registry():
    if not MULTIPROCESS_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def scrape(*extra_collectors) -> tuple[bytes, str]:
    """The exposition text of every process sharing MULTIPROCESS_DIR (or of this one), then of
    `extra_collectors` (metrics read when scraped); and its content type."""
    extra = CollectorRegistry()
    for collector in extra_collectors:
        extra.register(collector)
    return generate_latest(_registry()) + generate_latest(extra), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Counts and times every request by the name of the view that answered it (never the raw
    path: a label per VM id would grow without bound)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unmatched"
        HTTP_DURATION.labels(view).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        return response


def observe_task(task_name: str, outcome: str, seconds: float) -> None:
    TASK_DURATION.labels(task_name, outcome).observe(seconds)
    if outcome == "failure":
        TASK_FAILURES.labels(task_name).inc()


def observe_sync_cycle(*, seconds: float, list_calls: int, failed_namespaces: int) -> None:
    SYNC_DURATION.observe(seconds)
    SYNC_LIST_CALLS.set(list_calls)
    SYNC_FAILED_NAMESPACES.set(failed_namespaces)


def count_cluster_error(reason: str) -> None:
    CLUSTER_ERRORS.labels(reason or "Unknown").inc()


def clear_multiprocess_dir() -> None:
    """Forget the files of processes from an earlier run (their pids may be reused)."""
    if MULTIPROCESS_DIR:
        for path in Path(MULTIPROCESS_DIR).glob("*.db"):
            path.unlink(missing_ok=True)


def serve(port: int, address: str) -> None:
    """Answer scrapes on address:port from a thread of this process (Celery's main worker
    process, whose pool children write to MULTIPROCESS_DIR)."""
    start_http_server(port, addr=address, registry=_registry())
