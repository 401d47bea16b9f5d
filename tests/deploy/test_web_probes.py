"""The web pod's probes, as the chart renders them, against gunicorn started with the command and
the environment the chart gives the pod: ready while the cluster API and Prometheus do not
answer, within the probe's timeout; alive without asking anyone; its /metrics adding up every
gunicorn worker."""

import base64
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.chart import REPO, REQUIRED, named, render
from tests.support.processes import free_port, stop
from tests.support.worker import ARTIFACTS, database_url

# The least the chart accepts for 1 s health-check timeouts: 1 + 1 + 2.
PROBE_TIMEOUT = 4
TOKEN = "scrape-token-4471"


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers, as a hung API server or Prometheus does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def pod_environment(objects) -> dict[str, str]:
    configmap, secret = named(objects, "ConfigMap", "gpu-portal"), named(objects, "Secret", "gpu-portal")
    return {**configmap["data"], **{key: base64.b64decode(value).decode() for key, value in secret["data"].items()}}


@pytest.fixture
def web_pod(transactional_db, settings, silent_server, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "hung",
                "clusters": [
                    {
                        "name": "hung",
                        "cluster": {"server": f"https://127.0.0.1:{silent_server}", "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "hung", "user": {"token": "t"}}],
                "contexts": [{"name": "hung", "context": {"cluster": "hung", "user": "hung"}}],
            }
        )
    )
    port = free_port()
    objects = render(
        REQUIRED,
        {
            "config": {
                "ALLOWED_HOSTS": "gpu.example.test",
                "SECURE_SSL_REDIRECT": "1",
                "TRUST_PROXY_SSL_HEADER": "1",
                "CLUSTER_KUBECONFIG": str(kubeconfig),
                "PROMETHEUS_URL": f"http://127.0.0.1:{silent_server}",
                "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
                "PROMETHEUS_TIMEOUT_SECONDS": "1",
                "PROMETHEUS_RETRIES": "0",
                "HEALTH_CACHE_SECONDS": "0",
            },
            "secrets": {
                "values": {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "METRICS_TOKEN": TOKEN}
            },
            "web": {"port": port, "gunicornWorkers": 2, "readinessProbe": {"timeoutSeconds": PROBE_TIMEOUT}},
        },
    )
    (container,) = named(objects, "Deployment", "-web")["spec"]["template"]["spec"]["containers"]
    # The image's /var/lib/portal exists only in the image.
    env = {
        **pod_environment(objects),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PATH": os.environ["PATH"],
        # The chart's /tmp/metrics, on this machine's own /tmp of the test.
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    assert container["command"][0] == "gunicorn"
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "chart-web-pod.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *container["command"][1:]],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not tcp_probe(port):
            assert process.poll() is None, f"gunicorn exited with {process.returncode}: see {log.name}"
            assert time.monotonic() < deadline, "gunicorn did not listen within 30 s"
            time.sleep(0.1)
        yield port, container
    finally:
        stop(process)


def tcp_probe(port) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def http_probe(port, probe, headers=None) -> tuple[int, bytes, float]:
    """What kubelet's httpGet probe does: one GET with the probe's headers, given up after its timeout."""
    if headers is None:
        headers = {header["name"]: header["value"] for header in probe["httpGet"]["httpHeaders"]}
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=probe["timeoutSeconds"])
    try:
        connection.request("GET", probe["httpGet"]["path"], headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


def test_the_web_pod_stays_ready_while_the_cluster_api_and_prometheus_do_not_answer(web_pod):
    port, container = web_pod
    probe = container["readinessProbe"]

    # The first request after a start may wait for a worker to boot: kubelet's first probes may
    # miss (failureThreshold covers it); the timeout is for every probe after, whichever worker
    # answers it (each imports the views as it boots: hikube_portal/wsgi.py).
    http_probe(port, {**probe, "timeoutSeconds": 30})
    status, body, elapsed = http_probe(port, probe)

    assert (status, json.loads(body)) == (200, {"status": "ok"})
    # The checks did wait for the silent servers (a second each), and still answered in time.
    assert 2 < elapsed < probe["timeoutSeconds"] == PROBE_TIMEOUT
    # Liveness asks nobody: it answers at once although the cluster API and Prometheus hang.
    status, body, elapsed = http_probe(port, container["livenessProbe"])
    assert (status, body) == (200, b"ok\n") and elapsed < 1


def test_a_scrape_adds_up_the_requests_of_every_gunicorn_worker(web_pod):
    port, container = web_pod
    probe = container["livenessProbe"]
    headers = {header["name"]: header["value"] for header in probe["httpGet"]["httpHeaders"]}
    for _ in range(12):
        assert http_probe(port, probe)[0] == 200
    scrape = {**probe, "httpGet": {**probe["httpGet"], "path": "/metrics"}}

    assert http_probe(port, scrape)[0] == 403  # with a token set, even loopback must present it
    status, body, _ = http_probe(port, scrape, {**headers, "Authorization": f"Bearer {TOKEN}"})

    assert status == 200
    served = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "portal_http_requests_total" and sample.labels["view"] == "livez"
    }
    # Whichever of the two workers answered each request, the scrape adds them all up.
    assert served == {"200": 12.0}


def test_without_the_charts_probe_headers_django_would_redirect_or_refuse_the_probe(web_pod):
    port, container = web_pod
    probe = container["readinessProbe"]

    assert http_probe(port, probe, {"Host": "gpu.example.test"})[0] == 301
    assert http_probe(port, probe, {"Host": f"10.0.0.7:{port}", "X-Forwarded-Proto": "https"})[0] == 400
