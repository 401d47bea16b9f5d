"""One real Prometheus for the monitoring tests, loaded with the generated DCGM fleet history,
and the fixture's VMs as portal records."""

import time
from datetime import timedelta

import pytest

from monitoring.prometheus import Config, PrometheusGateway
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.expected import at
from tests.support.prometheus import PrometheusServer
from tests.vms.factories import make_vm
from vms.models import Membership, Team, VirtualMachine


@pytest.fixture(scope="session")
def fleet():
    return fx.build_fleet(time.time())


@pytest.fixture(scope="session")
def prometheus(fleet, tmp_path_factory):
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"))
    for chunk in fleet.openmetrics_chunks():
        server.backfill(chunk)
    with server:
        yield server


@pytest.fixture
def gateway(prometheus):
    return PrometheusGateway(Config(url=prometheus.url, timeout_seconds=20))


@pytest.fixture
def live_settings(settings, prometheus):
    settings.PROMETHEUS_URL = prometheus.url
    settings.PROMETHEUS_TIMEOUT_SECONDS = 20
    settings.IDLE_GPU_THRESHOLD_PERCENT = 5.0
    settings.IDLE_GPU_WARN_AFTER_HOURS = 24
    return settings


@pytest.fixture
def world(make_user, fleet):
    """The fixture's VMs as portal records: teams alpha, beta, gamma and their VMs, running
    for more than a week (so the 24 h idle window applies)."""
    teams = {name: Team.objects.create(name=name) for name in ("alpha", "beta", "gamma")}
    owner = {
        "alpha": make_user("ada", email="ada@example.org"),
        "beta": make_user("bob", email="bob@example.org"),
        "gamma": make_user("gus"),
    }
    for team, user in owner.items():
        Membership.objects.create(team=teams[team], user=user)
    types = {
        fx.TRAINING: ("g2.xlarge", "H100"),
        fx.INFERENCE: ("g1.large", "L40S"),
        fx.IDLE: ("g1.large", "A100"),
        fx.EXPORTER_DOWN: ("g1.large", "L40S"),
        fx.NEVER_INSTALLED: ("g1.large", "L40S"),
    }
    vms = {}
    long_ago = at(fleet.query_time) - timedelta(days=8)
    for (namespace, name), (instance_type, gpu) in types.items():
        team = namespace.removeprefix("tenant-")
        vm = make_vm(team=teams[team], owner=owner[team], name=name, instance_type=instance_type, gpu=gpu)
        VirtualMachine.objects.filter(pk=vm.pk).update(state_changed_at=long_ago, created_at=long_ago)
        vms[(namespace, name)] = VirtualMachine.objects.select_related("team", "owner", "gpu_model").get(pk=vm.pk)
    return {"teams": teams, "owners": owner, "vms": vms}
