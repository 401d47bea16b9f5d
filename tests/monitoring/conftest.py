"""One real Prometheus for the monitoring tests, loaded with the generated DCGM fleet history."""

import time

import pytest

from monitoring.prometheus import Config, PrometheusGateway
from tests.monitoring import dcgm_fixtures as fx
from tests.support.prometheus import PrometheusServer


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
