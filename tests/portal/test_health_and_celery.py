import time

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from hikube_portal.celery import app as celery_app
from tests.support.processes import free_port

# The details of /healthz are for staff and for this bearer token (see test_health_security).
TOKEN = "health-reader-token"


@pytest.fixture
def client(client, settings):
    settings.HEALTHZ_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


@pytest.mark.django_db
def test_health_reports_database_and_broker(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "detail": "postgresql"}
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "detail": "no heartbeat yet"}


@pytest.mark.django_db
def test_health_fails_when_the_broker_is_unreachable(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        started = time.monotonic()
        response = client.get(reverse("healthz"))
        elapsed = time.monotonic() - started
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert "Error" in body["checks"]["broker"]["detail"]
    assert elapsed < 10


@pytest.mark.django_db
def test_health_reports_a_recent_worker_heartbeat(client):
    from monitoring.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(name="celery", seen_at=timezone.now())
    body = client.get(reverse("healthz")).json()
    assert body["checks"]["worker"]["ok"] is True


def test_real_worker_runs_a_task_enqueued_on_commit(celery_worker):
    from monitoring.models import WorkerHeartbeat
    from monitoring.tasks import record_worker_heartbeat

    with transaction.atomic():
        transaction.on_commit(record_worker_heartbeat.delay)
        # Nothing may reach the broker before the transaction commits.
        assert not WorkerHeartbeat.objects.exists()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not WorkerHeartbeat.objects.filter(name="celery").exists():
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.filter(name="celery").exists()


@pytest.mark.django_db
@pytest.mark.prometheus
def test_health_reports_cluster_and_prometheus(client, settings, tmp_path):
    from tests.support.devcluster import DevCluster
    from tests.support.prometheus import PrometheusServer

    settings.PROMETHEUS_URL = ""
    settings.CLUSTER_KUBECONFIG = str(tmp_path / "missing-kubeconfig")
    body = client.get(reverse("healthz")).json()
    assert body["checks"]["prometheus"] == {"ok": False, "detail": "not configured"}
    assert body["checks"]["cluster"]["ok"] is False
    assert "Cannot load the cluster configuration" in body["checks"]["cluster"]["detail"]
    assert body["status"] == "ok"  # neither takes the web process out of service

    with DevCluster(tmp_path / "cluster") as cluster, PrometheusServer(tmp_path / "prom") as prometheus:
        settings.CLUSTER_KUBECONFIG = str(cluster.kubeconfig)
        settings.PROMETHEUS_URL = prometheus.url
        body = client.get(reverse("healthz")).json()
    assert body["checks"]["cluster"]["ok"] is True
    assert body["checks"]["prometheus"] == {"ok": True, "detail": "ok"}
