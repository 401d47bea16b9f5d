"""A real `celery worker` process for tests, reading the test database (the tests that use it
commit their data) and, when given a kubeconfig, reaching a development cluster."""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import stop

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# Short waits and retries so that fault tests take seconds; the production defaults are minutes.
FAST_CLUSTER_SETTINGS = {
    "CLUSTER_RETRY_BASE_SECONDS": "0.05",
    "CLUSTER_RETRY_MAX_SECONDS": "0.3",
    # Far above the old budget of 6 attempts (under a second at these delays): outage tests
    # stop the cluster for longer than that and still expect no VM to fail.
    "CLUSTER_RETRY_FOR_SECONDS": "6",
    "CLUSTER_WAIT_SECONDS": "4",
    "CLUSTER_TIMEOUT_SECONDS": "2",
}


class Worker:
    """A `celery worker` subprocess reading the test database (and reaching the dev cluster)."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        kubeconfig: Path | None = None,
        log_name: str = "prov-worker",
        pool: str = "solo",
        extra_env: dict[str, str] | None = None,
    ):
        self.env = {
            **os.environ,
            **FAST_CLUSTER_SETTINGS,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **(extra_env or {}),
        }
        self.pool = pool
        if kubeconfig is not None:
            self.env["CLUSTER_KUBECONFIG"] = str(kubeconfig)
        self.log_path = ARTIFACTS / f"{log_name}.log"
        self.process = None

    def start(self, *, wait: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "hikube_portal",
                    "worker",
                    f"--pool={self.pool}",
                    "--concurrency=2",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        # The worker logs "ready." once it consumes; a broadcast ping could be answered by another.
        deadline = time.monotonic() + timeout
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}; see {self.log_path}")
            with self.log_path.open("rb") as log:
                log.seek(start)
                if b"ready." in log.read():
                    return
            time.sleep(0.1)
        raise TimeoutError(f"celery worker not ready after {timeout} s; see {self.log_path}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
