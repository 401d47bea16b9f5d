"""Configuration that users copy must stay in step with what the code reads."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def settings_variables() -> set[str]:
    source = (REPO / "hikube_portal" / "settings.py").read_text()
    # And the one variable a library reads before the settings exist (prometheus_client's).
    early = (REPO / "hikube_portal" / "metrics.py").read_text()
    return set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', source)) | set(
        re.findall(r'os\.environ\.get\(\s*"([A-Z0-9_]+)"', early)
    )


def test_every_setting_is_listed_in_env_example():
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), flags=re.MULTILINE))
    read = settings_variables()
    assert read, "no env_* call found in settings.py"
    assert read - listed == set(), f"settings read but missing from .env.example: {sorted(read - listed)}"
    assert listed - read == set(), f".env.example lists unknown settings: {sorted(listed - read)}"


def test_compose_runs_web_worker_beat_postgres_redis_and_prometheus():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "prometheus"} <= set(services)
    assert "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://")


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_compose_publishes_no_unauthenticated_service_beyond_loopback():
    # Prometheus, PostgreSQL, Redis and the development cluster answer anyone who reaches them.
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "db", "redis", "devcluster"):
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
