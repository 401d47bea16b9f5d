"""The shipped Prometheus configurations: valid for promtool, and the production relabelling
gives every guest series the namespace and VM the portal selects on, from Kubernetes metadata.

Debian's Prometheus is built without Kubernetes service discovery, so promtool cannot read
`kubernetes_sd_configs`: the production job is checked, and run by a real Prometheus, with
that one block replaced by a file_sd file carrying the metadata labels Kubernetes discovery
would give the same pods. Relabelling is the same code path for every discovery."""

import copy
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from monitoring.prometheus import config_from_settings
from tests.support.prometheus import PROMTOOL_BINARY, PrometheusServer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
POD = {
    "__meta_kubernetes_namespace": "tenant-ml",
    "__meta_kubernetes_pod_name": "virt-launcher-vm-instance-llm-train-x7k2p",
    "__meta_kubernetes_pod_ip": "10.244.1.17",
    "__meta_kubernetes_pod_phase": "Running",
    "__meta_kubernetes_pod_label_kubevirt_io": "virt-launcher",
    "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "vm-instance-llm-train",
}


def production_job() -> dict:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    return job


def with_file_sd(job: dict, file_sd: Path) -> dict:
    job = copy.deepcopy(job)
    del job["kubernetes_sd_configs"]
    job["file_sd_configs"] = [{"files": [str(file_sd)], "refresh_interval": "1s"}]
    return job


def promtool_check(path: Path):
    result = subprocess.run([PROMTOOL_BINARY, "check", "config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["prometheus-dev.yml", "prometheus-compose.yml"])
def test_dev_configurations_are_valid(name):
    promtool_check(DEPLOY / name)
    (job,) = yaml.safe_load((DEPLOY / name).read_text())["scrape_configs"]
    assert job["job_name"] == config_from_settings().exporter_job


def test_compose_prometheus_reads_the_file_the_dev_cluster_writes():
    compose = yaml.safe_load((DEPLOY.parent.parent / "docker-compose.yml").read_text())
    command = compose["services"]["devcluster"]["command"]
    (job,) = yaml.safe_load((DEPLOY / "prometheus-compose.yml").read_text())["scrape_configs"]
    (sd_file,) = job["file_sd_configs"][0]["files"]
    assert f"--file-sd {sd_file}" in command
    assert "--advertise-host devcluster" in command


def test_production_configuration_shape_and_validity(tmp_path):
    job = production_job()
    assert job["job_name"] == "dcgm-exporter" == config_from_settings().exporter_job
    assert job["honor_labels"] is False
    assert 0 < job["sample_limit"] <= 10_000
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["scrape_configs"] = [with_file_sd(job, tmp_path / "targets.json")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    promtool_check(tmp_path / "prometheus.yml")


@pytest.mark.prometheus
def test_relabelling_sets_namespace_and_vm_from_kubernetes_metadata(tmp_path):
    file_sd = tmp_path / "targets.json"
    other_pods = [
        {**POD, "__meta_kubernetes_namespace": "kube-system"},
        {**POD, "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "cozy-postgres"},
        {**POD, "__meta_kubernetes_pod_phase": "Pending"},
    ]
    file_sd.write_text(json.dumps([{"targets": ["ignored:1"], "labels": labels} for labels in [POD, *other_pods]]))
    with PrometheusServer(tmp_path, scrape_configs=[with_file_sd(production_job(), file_sd)]) as prometheus:
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(f"{prometheus.url}/api/v1/targets", timeout=5) as response:
                targets = json.loads(response.read())["data"]
            if targets["activeTargets"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    (active,) = targets["activeTargets"]
    assert active["labels"] == {
        "job": "dcgm-exporter",
        "instance": "10.244.1.17:9400",
        "namespace": "tenant-ml",
        "vm": "llm-train",
        "pod": "virt-launcher-vm-instance-llm-train-x7k2p",
    }
    assert active["scrapeUrl"] == "http://10.244.1.17:9400/metrics"
    assert len(targets["droppedTargets"]) == len(other_pods)
