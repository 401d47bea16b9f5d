from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from hikube_portal.env import env_bool, env_choice, env_float, env_int, env_list, env_str, env_url


def test_env_str_requires_a_value_without_default():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_str("SECRET_KEY", environ={})
    assert env_str("X", "fallback", environ={"X": "  "}) == "fallback"
    assert env_str("X", environ={"X": " value "}) == "value"


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("false", False), ("", False)]
)
def test_env_bool_accepts_usual_spellings(raw, expected):
    assert env_bool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_env_bool_rejects_anything_else():
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG must be one of .*got 'maybe'"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_env_int_rejects_non_numbers_and_out_of_range():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be a whole number; got '25a'"):
        env_int("EMAIL_PORT", 25, environ={"EMAIL_PORT": "25a"})
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be at most 65535"):
        env_int("EMAIL_PORT", 25, maximum=65535, environ={"EMAIL_PORT": "70000"})
    assert env_int("EMAIL_PORT", 25, environ={}) == 25


def test_env_float_bounds():
    with pytest.raises(ImproperlyConfigured, match=r"T must be at least 0\.1"):
        env_float("T", 1.0, minimum=0.1, environ={"T": "0"})
    with pytest.raises(ImproperlyConfigured, match="T must be a number"):
        env_float("T", 1.0, environ={"T": "fast"})
    assert env_float("T", 1.0, environ={"T": "2.5"}) == 2.5


def test_env_url_checks_scheme_and_host():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must be a URL starting with"):
        env_url("DATABASE_URL", "sqlite:///x", schemes=("postgres",), environ={"DATABASE_URL": "mysql://h/db"})
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must name a host"):
        env_url("REDIS_URL", "", schemes=("redis",), environ={"REDIS_URL": "redis:///0"})
    assert env_url("U", "sqlite:///var/x.db", schemes=("sqlite",), environ={}) == "sqlite:///var/x.db"


def test_env_list_and_choice():
    assert env_list("ALLOWED_HOSTS", ["a"], environ={"ALLOWED_HOSTS": "x, y,,z "}) == ["x", "y", "z"]
    assert env_list("ALLOWED_HOSTS", ["a"], environ={}) == ["a"]
    with pytest.raises(ImproperlyConfigured, match="CLUSTER_API_SHAPE must be one of current, legacy"):
        env_choice("CLUSTER_API_SHAPE", "current", choices=("current", "legacy"), environ={"CLUSTER_API_SHAPE": "v2"})


def test_settings_module_refuses_to_start_with_bad_values(tmp_path):
    """The real settings module, imported in a fresh interpreter, stops on a bad variable."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DEBUG": "sometimes", "PORTAL_VAR_DIR": str(tmp_path)}
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import hikube_portal.settings"], env=env, capture_output=True, text=True, cwd=repo
    )
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr
