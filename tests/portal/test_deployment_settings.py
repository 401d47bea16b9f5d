"""Settings that only hold on some deployments are opt-in, and SQLite's missing row locks are
said at start-up (issue 12, finding 8)."""

import subprocess
import sys

import pytest
from django.urls import reverse

from vms.checks import sqlite_does_not_lock_rows

REPO_SETTINGS = "hikube_portal.settings"


def run_python(arguments: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    from tests.support.worker import REPO

    environ = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": REPO_SETTINGS,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "PORTAL_VAR_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, *arguments], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "None"), ("0", "None"), ("1", "('HTTP_X_FORWARDED_PROTO', 'https')")]
)
def test_the_forwarded_proto_header_is_trusted_only_when_a_setting_says_so(tmp_path, value, expected):
    env = {} if value is None else {"TRUST_PROXY_SSL_HEADER": value}
    result = run_python(
        ["-c", "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"], tmp_path, **env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.django_db
def test_a_client_cannot_claim_https_without_a_trusted_proxy(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response.url.startswith("https://")

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get(reverse("login"), HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_starting_on_sqlite_warns_that_rows_are_not_locked(tmp_path):
    result = run_python(["manage.py", "check"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "hikube.W001" in result.stderr + result.stdout
    assert "select_for_update() does not lock rows" in result.stderr + result.stdout


def test_postgresql_gets_no_such_warning(settings, monkeypatch):
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert sqlite_does_not_lock_rows() == []
    monkeypatch.setitem(settings.DATABASES, "other", {"ENGINE": "django.db.backends.sqlite3"})
    assert [warning.id for warning in sqlite_does_not_lock_rows()] == ["hikube.W001"]
