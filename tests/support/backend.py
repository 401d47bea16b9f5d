"""The portal's background half for end-to-end tests: a development cluster, a Celery worker and
Celery beat, all reading the test database, as `make run` runs them.

    with PortalBackend(tmp_path, gpus="H100=8", namespaces=["tenant-x"]) as backend:
        backend.cluster   # the DevCluster (kubeconfig, api_client(), faults(), ...)

Point the test process at the cluster too (settings.CLUSTER_KUBECONFIG = backend.kubeconfig)
when the code under test runs in it (live_server does)."""

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.support.devcluster import DevCluster
from tests.support.processes import stop
from tests.support.worker import ARTIFACTS, REPO, Worker, database_url


class PortalBackend:
    def __init__(
        self,
        workdir: Path,
        *,
        gpus: str,
        namespaces: list[str],
        redis_url: str,
        interval_seconds: float = 1.0,
        name: str = "backend",
    ):
        self.workdir = Path(workdir)
        self.cluster = DevCluster(self.workdir / "cluster", gpus=gpus, namespaces=namespaces)
        self.redis_url = redis_url
        self.interval = str(interval_seconds)
        self.name = name
        self.worker = self.beat = None

    @property
    def kubeconfig(self) -> str:
        return str(self.cluster.kubeconfig)

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__()  # what did start must not outlive the test
            raise
        return self

    def _start(self):
        from hikube_portal.celery import app

        self.cluster.start()
        app.control.purge()
        self.worker = Worker(
            database_url=database_url(),
            redis_url=self.redis_url,
            kubeconfig=self.cluster.kubeconfig,
            log_name=f"{self.name}-worker",
        )
        self.worker.start()
        env = {
            **self.worker.env,
            "CLUSTER_SYNC_INTERVAL_SECONDS": self.interval,
            "GOVERNANCE_INTERVAL_SECONDS": self.interval,
        }
        with (ARTIFACTS / f"{self.name}-beat.log").open("ab") as log:
            self.beat = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "hikube_portal",
                    "beat",
                    "--loglevel=INFO",
                    "--schedule",
                    str(self.workdir / "beat-schedule"),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def __exit__(self, *exc):
        from hikube_portal.celery import app

        if self.beat is not None:
            stop(self.beat)
        if self.worker is not None:
            self.worker.stop()
        self.cluster.stop()
        app.control.purge()


@contextmanager
def portal_backend(tmp_path: Path, settings, *, gpus: str, namespaces: list[str], name: str):
    """A PortalBackend whose cluster the test process (and its live_server) uses too."""
    with PortalBackend(tmp_path, gpus=gpus, namespaces=namespaces, redis_url=settings.REDIS_URL, name=name) as backend:
        settings.CLUSTER_KUBECONFIG = backend.kubeconfig
        yield backend
