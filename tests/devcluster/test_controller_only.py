"""`python -m devcluster --controller-only` without an API server to talk to: it keeps serving
its control API, says once that its passes fail, and once that they succeed again when the API
server answers. (Its work on a real API server is tested in tests/realapi/test_devcontroller.py.)"""

import time
import urllib.error

import pytest
import yaml

from tests.support.devcluster import DevCluster, DevController
from tests.support.processes import wait_until


def test_an_api_server_that_is_down_then_back_is_said_once_each(tmp_path):
    cluster = DevCluster(tmp_path / "cluster", token="outage-admin-token")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": cluster.url}}],
                "users": [{"name": "u", "user": {"token": "outage-admin-token"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )

    with DevController(tmp_path / "controller", kubeconfig=kubeconfig) as controller:
        time.sleep(1)  # ten passes against nothing
        down = controller.log.read_text()
        with pytest.raises(urllib.error.HTTPError) as refused:
            controller.faults(latency_ms=100)
        assert controller.faults(paused=True)["paused"] is True
        controller.faults(paused=False)
        with cluster:
            wait_until(lambda: "succeed again" in controller.log.read_text(), message="the controller to recover")
        state = controller.state()

    assert down.count("reconcile passes fail: 503") == 1
    assert refused.value.code == 400
    assert state["faults"]["paused"] is False
    assert state["controller"]["gpus"]["nvidia.com/H100_94GB"] == {"capacity": 4, "free": 4}
