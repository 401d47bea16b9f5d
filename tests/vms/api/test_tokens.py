"""Personal access tokens: made on a page and shown once, stored as a digest, scoped, expiring,
revocable, their use recorded and audited, and calls rate-limited per token."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tests.vms.api.conftest import ApiClient, bearer
from vms.api.auth import CallerRateThrottle
from vms.models import ApiToken, Event

pytestmark = pytest.mark.django_db
ME = "/api/v1/me/"


def test_a_token_made_on_the_page_is_shown_once_and_kept_as_a_digest(member_client, member):
    response = member_client.post("/account/tokens/", {"name": "CI pipeline", "scope": "write", "lifetime_days": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = re.search(r'id="token-value">(hkp_[^<]+)<', response.content.decode()).group(1)
    token = ApiToken.objects.get(user=member)
    assert token.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in str(ApiToken.objects.values().get())
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    # Never shown again: the list names it by its prefix only.
    listing = member_client.get("/account/tokens/").content.decode()
    assert plaintext not in listing and f"hkp_{token.prefix}_" in listing
    assert Event.objects.filter(kind="access", actor=member, data__token=token.prefix).count() == 1

    assert ApiClient(plaintext).get(ME).json()["username"] == "alice"


def test_a_blank_name_or_an_unknown_lifetime_creates_nothing(member_client):
    for data in (
        {"name": "  ", "scope": "read", "lifetime_days": "30"},
        {"name": "x", "scope": "read", "lifetime_days": "9999"},
    ):
        response = member_client.post("/account/tokens/", data)
        assert response.status_code == 200 and "field-error" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_calls_without_a_usable_token_get_401_in_json(member):
    expired = bearer(member, days=-1)
    revoked = bearer(member)
    ApiToken.objects.filter(digest=hashlib.sha256(revoked.encode()).hexdigest()).update(revoked_at=timezone.now())
    tampered = bearer(member)[:-2] + "xx"
    for token in (None, expired, revoked, tampered, "hkp_nothing", "not-a-token"):
        response = ApiClient(token).get(ME)
        assert response.status_code == 401, token
        assert response["Content-Type"] == "application/json"
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        (error,) = response.json()["errors"]
        assert error["field"] is None and error["code"] in {"not_authenticated", "authentication_failed"}


def test_a_deactivated_user_s_token_stops_working(member):
    token = bearer(member)
    member.is_active = False
    member.save()
    assert ApiClient(token).get(ME).status_code == 401


def test_a_read_token_reads_and_may_not_write(member, team, api_as):
    reader = api_as(member, scope=ApiToken.Scope.READ)
    assert reader.get("/api/v1/vms/").status_code == 200
    response = reader.post("/api/v1/vms/", {"name": "x", "team": team.name})
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"].startswith("This token is read-only")


def test_revoking_on_the_page_stops_the_token_and_is_audited(member_client, member, make_user):
    plaintext = bearer(member)
    token = ApiToken.objects.get(user=member)
    stranger = make_user("mallory")
    other = ApiToken.objects.create(
        user=stranger, name="theirs", prefix="feedbeef", digest="0" * 64, scope="read", expires_at=timezone.now()
    )
    # Someone else's token: refused, unchanged.
    member_client.post(f"/account/tokens/{other.pk}/revoke/")
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None

    response = member_client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert ApiClient(plaintext).get(ME).status_code == 401
    assert Event.objects.filter(message__startswith="Revoked", data__token=token.prefix).count() == 1


def test_last_use_is_recorded_and_a_new_address_audited(member):
    plaintext = bearer(member)
    client = ApiClient(plaintext)
    for _ in range(3):
        assert client.get(ME).status_code == 200
    token = ApiToken.objects.get(user=member)
    assert token.last_used_at is not None and token.last_used_ip == "127.0.0.1"
    used = Event.objects.filter(message__startswith="Used the API token")
    assert used.count() == 1 and used.get().data["ip"] == "127.0.0.1"
    client.get(ME, REMOTE_ADDR="192.0.2.9")
    assert used.count() == 2
    assert ApiToken.objects.get(user=member).last_used_ip == "192.0.2.9"


def test_calls_beyond_the_rate_get_429_with_retry_after(member, monkeypatch):
    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", {"api": "3/minute"})
    cache.clear()
    client = ApiClient(bearer(member))
    codes = [client.get(ME).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get(ME)
    assert int(response["Retry-After"]) > 0
    assert response.json()["errors"][0]["code"] == "throttled"
    # Another token of the same person has its own allowance.
    assert ApiClient(bearer(member)).get(ME).status_code == 200
    cache.clear()


def test_the_session_works_with_its_csrf_check(member):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    assert browser.get(ME).json()["username"] == "alice"
    refused = browser.post("/api/v1/vms/", {}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["errors"][0]["message"]
