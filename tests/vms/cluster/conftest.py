"""Fixtures for the tests of vms.cluster (provisioning, sync, tasks): a development cluster
over HTTP, a real Celery worker (one per module, restartable) configured to reach it, and
helpers that run the status sync the way beat would until a VM reaches a state."""

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from hikube_portal.celery import app
from tests.support.devcluster import DevCluster
from tests.support.worker import FAST_CLUSTER_SETTINGS, Worker, database_url
from vms.cluster.sync import NODES_FORBIDDEN_KEY

NAMESPACES = ("tenant-alpha", "tenant-beta")


@pytest.fixture(scope="session")
def prov_cluster(tmp_path_factory):
    with DevCluster(
        tmp_path_factory.mktemp("prov-devcluster"), gpus="H100=2,A100=8,L40S=8", namespaces=NAMESPACES
    ) as cluster:
        yield cluster


# Per module, not per session: a worker left running would pick up tasks that other modules'
# tests enqueue and touch the database while those tests tear it down.
@pytest.fixture(scope="module")
def prov_worker(prov_cluster, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url()
    worker = Worker(database_url=url, redis_url=django_settings.REDIS_URL, kubeconfig=prov_cluster.kubeconfig)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def cluster(prov_cluster, settings):
    """The session's dev cluster, emptied; the test process's settings point at it."""
    prov_cluster.reset()
    # A 403 on nodes remembered by an earlier test (or run) on another cluster is not this one's.
    cache.delete(NODES_FORBIDDEN_KEY)
    settings.CLUSTER_KUBECONFIG = str(prov_cluster.kubeconfig)
    for name, value in FAST_CLUSTER_SETTINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    settings.CLUSTER_WORK_STALE_SECONDS = 2.0
    return prov_cluster


@pytest.fixture
def worker(prov_worker, transactional_db, cluster):
    app.control.purge()
    if prov_worker.process.poll() is not None:
        prov_worker.start()
    yield prov_worker
    app.control.purge()


@pytest.fixture
def gateway(cluster):
    from vms.cluster.gateway import ClusterGateway

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
