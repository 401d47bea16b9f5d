"""Fixtures for the provisioning tests: a development cluster over HTTP, a real Celery worker
(one for the session, restartable) configured to reach it, and helpers that run the status sync
the way beat would until a VM reaches a state."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.devcluster import DevCluster
from tests.support.processes import stop

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
NAMESPACES = ("tenant-alpha", "tenant-beta")
# Short waits and retries so that fault tests take seconds; the production defaults are minutes.
FAST_CLUSTER_SETTINGS = {
    "CLUSTER_RETRY_BASE_SECONDS": "0.05",
    "CLUSTER_RETRY_MAX_SECONDS": "0.3",
    "CLUSTER_TASK_MAX_ATTEMPTS": "6",
    "CLUSTER_WAIT_SECONDS": "4",
    "CLUSTER_TIMEOUT_SECONDS": "2",
}


class Worker:
    """A `celery worker` subprocess reading the test database and reaching the dev cluster."""

    def __init__(self, *, database_url: str, redis_url: str, kubeconfig: Path, log_name: str = "prov-worker"):
        self.env = {**os.environ, **FAST_CLUSTER_SETTINGS, "DJANGO_SETTINGS_MODULE": "tests.settings",
                    "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CLUSTER_KUBECONFIG": str(kubeconfig)}
        self.log_path = ARTIFACTS / f"{log_name}.log"
        self.process = None

    def start(self, *, wait: bool = True) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "hikube_portal", "worker", "--pool=solo", "--loglevel=INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
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


@pytest.fixture(scope="session")
def prov_cluster(tmp_path_factory):
    with DevCluster(tmp_path_factory.mktemp("prov-devcluster"), gpus="H100=2,A100=8,L40S=8",
                    namespaces=NAMESPACES) as cluster:
        yield cluster


# Per module, not per session: a worker left running would pick up tasks that other modules'
# tests enqueue and touch the database while those tests tear it down.
@pytest.fixture(scope="module")
def prov_worker(prov_cluster, django_db_setup, django_db_blocker):
    from django.conf import settings

    with django_db_blocker.unblock():
        url = database_url()
    worker = Worker(database_url=url, redis_url=settings.REDIS_URL, kubeconfig=prov_cluster.kubeconfig)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def cluster(prov_cluster, settings):
    """The session's dev cluster, emptied; the test process's settings point at it."""
    prov_cluster.reset()
    settings.CLUSTER_KUBECONFIG = str(prov_cluster.kubeconfig)
    for name, value in FAST_CLUSTER_SETTINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    settings.CLUSTER_WORK_STALE_SECONDS = 2.0
    return prov_cluster


@pytest.fixture
def worker(prov_worker, transactional_db, cluster):
    from hikube_portal.celery import app

    app.control.purge()
    if prov_worker.process.poll() is not None:
        prov_worker.start()
    yield prov_worker
    app.control.purge()


@pytest.fixture
def gateway(cluster):
    from vms.cluster import ClusterGateway

    gateway = ClusterGateway.from_kubeconfig(str(cluster.kubeconfig), timeout=5)
    yield gateway
    gateway.api_client.close()


@pytest.fixture
def owner(transactional_db, make_user):
    return make_user("dana")


@pytest.fixture
def team(transactional_db):
    from vms.models import Team

    return Team.objects.create(name="alpha")


@pytest.fixture
def other_team(transactional_db):
    from vms.models import Team

    return Team.objects.create(name="beta")
