"""Reachability checks of the systems the portal depends on, for the health endpoint.

Each check returns (ok, detail) and never raises: the endpoint must answer even when
everything behind it is down."""

import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from hikube_portal.celery import app as celery_app
from hikube_portal.redact import redact
from monitoring.models import WorkerHeartbeat
from monitoring.prometheus import shared_gateway
from vms.cluster.gateway import ClusterError, gateway


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, connection.vendor


def check_broker() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
            transport = conn.transport_cls
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, str(transport)


def check_worker() -> tuple[bool, str]:
    beat = WorkerHeartbeat.objects.filter(name="celery").first()
    if beat is None:
        return False, "no heartbeat yet"
    age = timezone.now() - beat.seen_at
    if age > timedelta(seconds=settings.HEALTH_WORKER_STALE_SECONDS):
        return False, f"last heartbeat {int(age.total_seconds())} s ago"
    return True, f"last heartbeat {int(age.total_seconds())} s ago"


def check_cluster() -> tuple[bool, str]:
    try:
        return gateway().reachable(timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
    except ClusterError as exc:
        return False, exc.message


def check_prometheus() -> tuple[bool, str]:
    if not settings.PROMETHEUS_URL:
        return False, "not configured"
    return shared_gateway().reachable()


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "cluster": check_cluster,
    "prometheus": check_prometheus,
}
# The worker, the cluster and Prometheus are reported but do not fail the endpoint: web processes
# must stay in a load balancer while those restart, and the portal still serves its pages.
CRITICAL = {"database", "broker"}


class _Report:
    """The last report of this process and when it was made, behind a lock: while one request
    runs the checks, the others wait for its result instead of each asking a hanging dependency
    again (and each holding a web worker for up to HEALTH_CHECK_TIMEOUT_SECONDS per check)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.made_at = -float("inf")
        self.value: tuple[bool, dict] = (False, {})


_last_report = _Report()


def report() -> tuple[bool, dict[str, dict]]:
    """(healthy, {check: {"ok", "detail"}}), at most HEALTH_CACHE_SECONDS old, with every
    credential taken out of the details."""
    with _last_report.lock:
        if time.monotonic() - _last_report.made_at >= settings.HEALTH_CACHE_SECONDS:
            results = {}
            for name, check in CHECKS.items():
                ok, detail = check()
                results[name] = {"ok": ok, "detail": redact(detail)}
            _last_report.value = (all(results[name]["ok"] for name in CRITICAL), results)
            _last_report.made_at = time.monotonic()
        return _last_report.value
