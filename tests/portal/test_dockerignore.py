"""The image built by the Dockerfile must not carry secrets or local state (issue 12, finding 2).

Docker's own rules are applied here: patterns are relative to the build context, `*` stays within
one path segment, `**` spans any number, a pattern matching a directory excludes everything in
it, `!` re-includes, and the last matching pattern wins."""

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

MUST_BE_EXCLUDED = [
    ".env",
    ".env.production",
    "kubeconfig",
    "kubeconfig.yaml",
    "deploy/kubeconfig-prod",
    "prod.kubeconfig",
    "var/portal.sqlite3",
    "var/devcluster/kubeconfig",
    "var/devcluster/admin-token",
    "var/broker/queue/task.msg",
    "var/run.env",
    "portal.sqlite3",
    ".git/HEAD",
    ".git/config",
    ".venv/bin/python",
    "test-artifacts/celery-worker.log",
    "vms/__pycache__/models.cpython-311.pyc",
    ".pytest_cache/README.md",
    ".ruff_cache/CACHEDIR.TAG",
    "certs/tls.key",
    "certs/tls.pem",
]
# What the image runs: without these the web, worker, beat or devcluster services would not start.
MUST_BE_COPIED = [
    "manage.py",
    "pyproject.toml",
    "hikube_portal/settings.py",
    "vms/models.py",
    "vms/render/upstream_schemas/vm-instance/values.schema.json",
    "monitoring/prometheus.py",
    "devcluster/__main__.py",
    "templates/base.html",
    "static/css/portal.css",
    "locale/fr/LC_MESSAGES/django.mo",
    ".env.example",
]


def _regex(pattern: str) -> re.Pattern:
    parts = []
    for token in re.split(r"(\*\*/?|\*|\?)", pattern):
        if token in ("**", "**/"):
            parts.append(".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + r"\Z")


@cache
def rules() -> list[tuple[bool, re.Pattern]]:
    result = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        result.append((negated, _regex(pattern)))
    return result


def excluded(path: str) -> bool:
    """Whether Docker leaves `path` (relative to the context) out of the build context."""
    segments = path.split("/")
    prefixes = ["/".join(segments[:n]) for n in range(1, len(segments) + 1)]
    verdict = False
    for negated, regex in rules():
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


def copied_sources() -> list[str]:
    """The sources of the Dockerfile's COPY instructions (build-context paths)."""
    sources = []
    for line in (REPO / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            sources += [word for word in words[1:-1] if not word.startswith("--")]
    return sources


def would_be_copied(path: str) -> bool:
    in_sources = any(
        source == "." or path == source or path.startswith(source.rstrip("/") + "/") for source in copied_sources()
    )
    return in_sources and not excluded(path)


def test_the_dockerfile_copies_the_whole_context():
    # The checks below only mean something while the context is what COPY takes.
    assert "." in copied_sources()


@pytest.mark.parametrize("path", MUST_BE_EXCLUDED)
def test_secrets_and_local_state_stay_out_of_the_image(path):
    assert not would_be_copied(path), f"{path} would be copied into the image"


@pytest.mark.parametrize("path", MUST_BE_COPIED)
def test_what_the_image_runs_is_copied(path):
    assert would_be_copied(path), f"{path} would be missing from the image"


def test_every_git_ignored_local_file_is_docker_ignored():
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for entry in ignored:
        sample = entry.replace("*", "sample")
        assert excluded(sample) or excluded(f"vms/{sample}"), f".gitignore's {entry} is not in .dockerignore"


def test_the_matcher_follows_dockers_rules():
    assert _regex("**/*.pem").match("a/b/c.pem") and _regex("**/*.pem").match("c.pem")
    assert not _regex("*.pem").match("a/c.pem")
    assert excluded(".env") and not excluded(".env.example")
