from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from vms.governance.tokens import api_token_create
from vms.models import ApiToken


def bearer(user, *, scope=ApiToken.Scope.WRITE, days=30) -> str:
    return api_token_create(
        user=user, name="tests", scope=scope, expires_at=timezone.now() + timedelta(days=days)
    ).plaintext


class ApiClient:
    """The test client speaking JSON with a personal token, as a script would."""

    def __init__(self, token: str | None, language: str = "en"):
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"HTTP_ACCEPT_LANGUAGE": language}
        if token:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def get(self, path, params=None, **extra):
        return self.client.get(path, params or {}, **self.headers, **extra)

    def post(self, path, body=None, **extra):
        return self.client.post(
            path, body if body is not None else {}, content_type="application/json", **self.headers, **extra
        )

    def delete(self, path, **extra):
        return self.client.delete(path, **self.headers, **extra)


@pytest.fixture
def api_as():
    def make(user, *, scope=ApiToken.Scope.WRITE, language="en"):
        return ApiClient(bearer(user, scope=scope) if user else None, language)

    return make
