"""/healthz tells anonymous callers only whether the portal is up; the details go to staff and
to a bearer token, never carry a credential, and a hanging dependency is asked at most once per
HEALTH_CACHE_SECONDS (issue 12, finding 3)."""

import pytest
from django.urls import reverse

from hikube_portal import health
from hikube_portal.celery import app as celery_app
from hikube_portal.redact import redact, url_without_credentials
from monitoring.prometheus import Config, PrometheusGateway
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db
TOKEN = "a-long-health-token"


@pytest.fixture
def token(settings):
    settings.HEALTHZ_TOKEN = TOKEN
    return TOKEN


def test_anonymous_callers_get_the_overall_status_only(client, token):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert b"postgresql" not in response.content


def test_signed_in_users_without_staff_get_the_status_only(client, make_user, token):
    client.force_login(make_user("alice"))
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_staff_read_the_details(client, make_user):
    client.force_login(make_user("operator", is_staff=True))
    body = client.get(reverse("healthz")).json()
    assert body["checks"]["database"] == {"ok": True, "detail": "postgresql"}


def test_the_bearer_token_reads_the_details_and_nothing_else_does(client, token, settings):
    body = client.get(reverse("healthz"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()
    assert body["checks"]["database"]["ok"] is True
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer ", TOKEN):
        assert "checks" not in client.get(reverse("healthz"), HTTP_AUTHORIZATION=header).json(), header
    settings.HEALTHZ_TOKEN = ""
    assert "checks" not in client.get(reverse("healthz"), HTTP_AUTHORIZATION="Bearer ").json()


def test_an_unavailable_portal_says_so_to_anyone_without_saying_why(client, token):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        response = client.get(reverse("healthz"))
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_no_credential_is_ever_printed(client, token, settings):
    prometheus_port, redis_port = free_port(), free_port()
    settings.PROMETHEUS_URL = f"http://scraper:prom-pass-1234@127.0.0.1:{prometheus_port}"
    settings.PROMETHEUS_BEARER_TOKEN = "prom-bearer-5678"
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://:redis-pass-9012@127.0.0.1:{redis_port}/0"
    try:
        response = client.get(reverse("healthz"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    finally:
        celery_app.conf.broker_url = original
    text = response.content.decode()
    checks = response.json()["checks"]
    assert checks["prometheus"]["ok"] is False
    assert f"127.0.0.1:{prometheus_port}" in checks["prometheus"]["detail"]
    assert checks["broker"]["ok"] is False
    for secret in ("prom-pass-1234", "scraper:", "prom-bearer-5678", "redis-pass-9012", TOKEN, settings.SECRET_KEY):
        assert secret not in text


def test_prometheus_errors_on_pages_carry_no_credentials():
    url = f"http://scraper:prom-pass-1234@127.0.0.1:{free_port()}"
    ok, detail = PrometheusGateway(Config(url=url, timeout_seconds=1, retries=0)).reachable()
    assert not ok
    assert "prom-pass-1234" not in detail and "scraper" not in detail


def test_redact_takes_out_urls_credentials_headers_and_configured_secrets(settings):
    settings.PROMETHEUS_PASSWORD = "configured-pw"
    text = redact("GET https://u:p@host/x?token=abc&n=1 with Authorization: Bearer eyJabc and configured-pw")
    assert text == "GET https://host/x?token=***&n=1 with Authorization: Bearer *** and ***"
    assert url_without_credentials("http://u:p@h:9090/p") == "http://h:9090/p"
    assert url_without_credentials("http://h:9090") == "http://h:9090"


def test_the_checks_run_at_most_once_per_cache_period(client, settings, monkeypatch):
    calls = []

    def counted():
        calls.append(1)
        return True, "counted"

    monkeypatch.setattr(health, "CHECKS", {"database": counted, "broker": counted})
    monkeypatch.setattr(health, "_last_report", health._Report())
    settings.HEALTH_CACHE_SECONDS = 60
    for _ in range(3):
        assert client.get(reverse("healthz")).json() == {"status": "ok"}
    assert len(calls) == 2  # one run: two checks

    settings.HEALTH_CACHE_SECONDS = 0
    client.get(reverse("healthz"))
    assert len(calls) == 4
