"""The portal's own metrics: /metrics on the web (requests by view and status, VMs by state, the
waitlist), guarded by a token or loopback; each Celery worker's own port (task durations and
failures, its pool children added up); and /livez, which asks nothing of anyone."""

import json
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from hikube_portal import task_names
from hikube_portal.celery import app
from tests.support.processes import free_port, wait_until
from tests.support.prometheus import PrometheusServer
from tests.support.worker import Worker, database_url
from tests.vms.factories import make_vm
from vms.models import Team


def samples(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scraped(client, **headers) -> dict[tuple, float]:
    response = client.get(reverse("metrics"), **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


@pytest.mark.django_db
def test_metrics_count_requests_by_view_and_status_and_read_the_fleet(client, settings, make_user):
    settings.METRICS_TOKEN = ""
    team = Team.objects.create(name="vision")
    owner = make_user("ada")
    make_vm(team=team, owner=owner, state="running")
    make_vm(team=team, owner=owner, state="running")
    make_vm(team=team, owner=owner, state="approved", gpu="H100")
    make_vm(team=team, owner=owner, state="approved", gpu="H100", lease_ends_at=timezone.now() - timedelta(hours=1))
    login_ok = ("portal_http_requests_total", (("method", "GET"), ("status", "200"), ("view", "login")))
    anonymous_vm = ("portal_http_requests_total", (("method", "GET"), ("status", "302"), ("view", "vm_detail")))

    before = scraped(client)
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("vm_detail", args=[1])).status_code == 302
    after = scraped(client)

    assert after[login_ok] - before.get(login_ok, 0) == 1
    assert after[anonymous_vm] - before.get(anonymous_vm, 0) == 1
    timed = ("portal_http_request_duration_seconds_count", (("view", "login"),))
    assert after[timed] - before.get(timed, 0) == 1
    assert after[("portal_vms", (("state", "running"),))] == 2
    assert after[("portal_vms", (("state", "approved"),))] == 2
    assert after[("portal_vms", (("state", "stopped"),))] == 0  # every state, not only those held
    # The waitlist as the waitlist reads it: a request whose lease ended is not served.
    assert after[("portal_waitlist_length", (("gpu_model", "H100"),))] == 1


@pytest.mark.django_db
def test_a_scrape_costs_two_queries_whatever_the_fleet(client, settings, make_user, django_assert_num_queries):
    settings.METRICS_TOKEN = ""
    team, owner = Team.objects.create(name="vision"), make_user("ada")
    for _ in range(5):
        make_vm(team=team, owner=owner, state="running")
    with django_assert_num_queries(2):
        client.get(reverse("metrics"))


@pytest.mark.django_db
def test_a_token_guards_the_metrics(client, settings):
    settings.METRICS_TOKEN = "scrape-me-7812"
    assert client.get(reverse("metrics")).status_code == 403
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer scrape-me-7812").status_code == 200


@pytest.mark.django_db
def test_without_a_token_only_loopback_may_scrape(client, settings):
    settings.METRICS_TOKEN = ""
    refused = client.get(reverse("metrics"), REMOTE_ADDR="10.1.2.3")
    assert refused.status_code == 403 and b"METRICS_TOKEN" in refused.content
    assert client.get(reverse("metrics"), REMOTE_ADDR="::1").status_code == 200
    # A reverse proxy on the same host connects from loopback: what it forwards is not local.
    proxied = client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert proxied.status_code == 403
    assert client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="198.51.100.7").status_code == 403


def test_livez_answers_without_touching_the_database(client):
    # No django_db mark: a query would raise here.
    response = client.get(reverse("livez"))
    assert response.status_code == 200 and response.content == b"ok\n"


def test_a_workers_pool_children_report_their_tasks_on_the_workers_port(transactional_db, tmp_path, settings):
    port = free_port()
    worker = Worker(
        database_url=database_url(),
        redis_url=settings.REDIS_URL,
        log_name="metrics-worker",
        pool="prefork",
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "METRICS_WORKER_PORT": str(port)},
    )
    app.control.purge()
    worker.start()
    try:
        for _ in range(3):
            app.send_task(task_names.ADVANCE_WAITLIST)
        app.send_task(task_names.NOTIFY_REQUESTER, kwargs={"vm_id": 987654})  # no such VM: the task raises

        def figures():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                found = samples(response.read().decode())
            done = found.get(
                ("portal_task_duration_seconds_count", (("outcome", "success"), ("task", task_names.ADVANCE_WAITLIST)))
            )
            failed = found.get(("portal_task_failures_total", (("task", task_names.NOTIFY_REQUESTER),)))
            return (done, failed) if done == 3 and failed == 1 else None

        assert wait_until(figures, timeout=30, message="the worker's metrics") == (3, 1)
    finally:
        worker.stop()
        app.control.purge()


@pytest.mark.prometheus
def test_a_real_prometheus_scrapes_the_portal_with_its_token(live_server, tmp_path, settings, make_user):
    settings.METRICS_TOKEN = "scrape-token-5120"
    make_vm(team=Team.objects.create(name="vision"), owner=make_user("ada"), state="running")
    host = live_server.url.removeprefix("http://")
    job = {
        "job_name": "portal",
        "metrics_path": "/metrics",
        "authorization": {"type": "Bearer", "credentials": settings.METRICS_TOKEN},
        "static_configs": [{"targets": [host]}],
    }
    with PrometheusServer(tmp_path, scrape_configs=[job]) as prometheus:

        def running_vms():
            query = urllib.parse.urlencode({"query": 'portal_vms{job="portal",state="running"}'})
            with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
            return result[0]["value"][1] if result else None

        assert wait_until(running_vms, timeout=30, message="Prometheus scraping /metrics") == "1"
