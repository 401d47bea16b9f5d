"""`manage.py` on a fresh checkout says in one line what to do first (issue 12, finding 11)."""

import subprocess
import sys

import pytest

from tests.support.worker import REPO

SPEC = "name: demo\nteam: ml-research\ninstance_type: g1.medium\ngpu_model: L40S\n"


def manage(tmp_path, *arguments, **env) -> subprocess.CompletedProcess:
    environ = {
        "PATH": "/usr/bin:/bin",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
    )


def errors(result) -> list[str]:
    """stderr without the system checks' SQLite warning (tested in test_deployment_settings)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return [
        line
        for line in lines
        if "hikube.W001" not in line
        and "HINT:" not in line
        and line != "WARNINGS:"
        and "System check identified" not in line
    ]


@pytest.mark.parametrize("command", [["vm_manifest", "spec.yaml"], ["seed_demo"], ["sync_cluster"]])
def test_a_command_run_before_migrate_says_to_migrate_first(tmp_path, command):
    (tmp_path / "spec.yaml").write_text(SPEC)
    command = [str(tmp_path / word) if word == "spec.yaml" else word for word in command]
    result = manage(tmp_path, *command, DEBUG="1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = errors(result)
    assert line.startswith("CommandError: The database is missing ")
    assert line.endswith(" migration(s): run `python manage.py migrate` first (with DEBUG=1 in development).")


def test_after_migrate_the_same_command_works(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC.replace("ml-research", "nobody"))
    assert manage(tmp_path, "migrate", "--no-input", DEBUG="1").returncode == 0
    result = manage(tmp_path, "vm_manifest", str(tmp_path / "spec.yaml"), DEBUG="1")
    assert "Traceback" not in result.stderr
    assert errors(result)[-1] == "team: No team named “nobody”."


def test_a_missing_secret_key_says_debug_1_is_the_development_setting(tmp_path):
    result = manage(tmp_path, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY must be set. Set it to a long random string in production; "
        "for development set DEBUG=1, which uses a built-in key."
    ]
