"""Failed logins are throttled (django-axes): after LOGIN_FAILURE_LIMIT failures for one username
from one address, that pair is refused, right password or not, for LOGIN_LOCKOUT_MINUTES, with
a page that says so (issue 12, finding 7)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def login(client, password, username="alice", address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def alice(make_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    return make_user("alice", "s3cret-pass")


def test_the_fifth_failure_locks_the_account_out_from_that_address(client, alice):
    for _ in range(4):
        response = login(client, "nope")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    response = login(client, "nope")
    assert response.status_code == 429
    assert "it is locked for 15 minutes" in response.content.decode()

    response = login(client, "s3cret-pass")  # the right password does not get through either
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_out_ends_after_its_period(client, alice):
    for _ in range(5):
        login(client, "nope")
    assert login(client, "s3cret-pass").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = login(client, "s3cret-pass")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_the_lock_out_is_per_username_and_address(client, alice, make_user):
    make_user("bob", "bob-pass")
    for _ in range(5):
        login(client, "nope")
    assert login(client, "s3cret-pass", address="10.0.0.2").status_code == 302
    client.logout()
    assert login(client, "bob-pass", username="bob").status_code == 302


def test_a_success_clears_the_failures(client, alice):
    for _ in range(4):
        login(client, "nope")
    assert login(client, "s3cret-pass").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "nope").status_code == 200


def test_the_lock_out_page_is_translated(client, alice):
    for _ in range(5):
        login(client, "nope")
    response = client.post(
        reverse("login"), {"username": "alice", "password": "x"}, REMOTE_ADDR="10.0.0.1", HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 429
    assert "verrouillé pendant 15 minutes" in response.content.decode()
