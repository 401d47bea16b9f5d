"""The real-API tier: tests against a real kube-apiserver and kube-controller-manager on etcd
(tests/support/kube.py), one control plane for the whole tier, stopped once its tests are done.

Where the Kubernetes kit or etcd is missing, each module of the tier skips itself at collection
(`kube.skip_unless_available()`), which pytest's summary reports as one line saying why and how
to enable the tier."""

import time

import pytest

from tests.support import kube

# Filled by the control plane's fixture, for the closing summary: the tier must stay cheap to start.
_timings: dict[str, float] = {}


@pytest.fixture(scope="package")
def real_cluster(tmp_path_factory):
    kube.skip_unless_available()
    started = time.monotonic()
    with kube.KubeControlPlane(tmp_path_factory.mktemp("kube")) as cluster:
        _timings["startup"] = cluster.startup_seconds
        yield cluster
    _timings["up"] = time.monotonic() - started


@pytest.fixture
def namespace(real_cluster):
    """A fresh namespace of the real cluster for this test alone."""
    with real_cluster.namespace() as name:
        yield name


@pytest.fixture
def admin_api(real_cluster):
    api_client = real_cluster.api_client()
    yield api_client
    api_client.close()


def pytest_terminal_summary(terminalreporter):
    if "startup" in _timings:
        terminalreporter.write_line(
            f"real-API tier: control plane started in {_timings['startup']:.1f} s, up for {_timings.get('up', 0):.1f} s"
        )
