"""Simulated in-guest DCGM exporters, their file_sd targets, and a real Prometheus scraping them."""

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from monitoring import dcgm_history
from tests.devcluster.conftest import GROUP, VERSION, vm_disk, vm_instance
from tests.support.processes import wait_until
from tests.support.prometheus import PrometheusServer
from vms.management.demo import live_gpu_uuid

NS = "tenant-a"
DISKS = {"group": GROUP, "version": VERSION, "plural": "vmdisks"}
INSTANCES = {"group": GROUP, "version": VERSION, "plural": "vminstances"}
H100 = "nvidia.com/H100_94GB"
A100 = "nvidia.com/GA100_A100_PCIE_80GB"
WORKLOAD = "devcluster.hikube.cloud/workload"
DEFAULT_COUNTERS = [
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL",
    "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES",
    "DCGM_FI_PROF_PCIE_RX_BYTES",
]
SAMPLE = re.compile(r"^(?P<name>[A-Z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def running_gpu_vm(apps, devcluster, name, gpus, workload="training"):
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk(f"{name}-system"), **DISKS)
    apps.create_namespaced_custom_object(
        namespace=NS,
        body=vm_instance(name, [f"{name}-system"], gpus=gpus, annotations={WORKLOAD: workload}),
        **INSTANCES,
    )
    wait_until(
        lambda: f"/metrics/{NS}/{name}" in devcluster.state()["exporters"]["targets"], message=f"{name}'s exporter"
    )


def scrape(devcluster, name):
    with urllib.request.urlopen(f"{devcluster.exporter_url}/metrics/{NS}/{name}", timeout=5) as response:
        return response.read().decode()


def samples(text):
    parsed = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            parsed.append((match["name"], labels, float(match["value"])))
    return parsed


def values(text, metric):
    return [value for name, _, value in samples(text) if name == metric]


def test_exposition_has_default_counters_one_series_per_gpu(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [H100, H100])

    text = scrape(devcluster, "train")

    for metric in DEFAULT_COUNTERS:
        assert f"# HELP {metric} " in text
        assert re.search(rf"^# TYPE {metric} (gauge|counter)$", text, re.MULTILINE)
        assert len(values(text, metric)) == 2, metric
    assert "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter" in text
    labels = [labels for name, labels, _ in samples(text) if name == "DCGM_FI_DEV_GPU_UTIL"]
    assert [label["gpu"] for label in labels] == ["0", "1"]
    assert {label["modelName"] for label in labels} == {"NVIDIA H100 NVL"}
    assert {label["Hostname"] for label in labels} == {"vm-instance-train"}
    assert {label["DCGM_FI_DRIVER_VERSION"] for label in labels} == {"550.54.15"}
    assert all(re.fullmatch(r"GPU-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", label["UUID"]) for label in labels)
    assert labels[0]["UUID"] != labels[1]["UUID"]
    assert [label["device"] for label in labels] == ["nvidia0", "nvidia1"]
    assert set(labels[0]) == {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"}


def test_training_profile_is_busy_and_memory_adds_up(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [A100])

    first = scrape(devcluster, "train")
    time.sleep(0.05)
    second = scrape(devcluster, "train")

    assert 80 <= values(first, "DCGM_FI_DEV_GPU_UTIL")[0] <= 100
    used, free = values(first, "DCGM_FI_DEV_FB_USED")[0], values(first, "DCGM_FI_DEV_FB_FREE")[0]
    reserved = values(first, "DCGM_FI_DEV_FB_RESERVED")[0]
    assert used + free + reserved == 81920
    assert used / 81920 > 0.6
    assert 0.5 <= values(first, "DCGM_FI_PROF_GR_ENGINE_ACTIVE")[0] <= 1
    assert 0 < values(first, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE")[0] <= 1
    assert 200 <= values(first, "DCGM_FI_DEV_POWER_USAGE")[0] <= 300
    energy = values(first, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")[0]
    assert values(second, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")[0] > energy


def test_idle_and_inference_profiles(apps, devcluster):
    running_gpu_vm(apps, devcluster, "quiet", [H100], workload="idle")
    idle = scrape(devcluster, "quiet")
    assert values(idle, "DCGM_FI_DEV_GPU_UTIL") == [0]
    assert values(idle, "DCGM_FI_DEV_FB_USED")[0] < 100
    assert values(idle, "DCGM_FI_DEV_POWER_USAGE")[0] < 100

    devcluster.exporter_faults(NS, "quiet", profile="inference")
    assert values(scrape(devcluster, "quiet"), "DCGM_FI_DEV_FB_USED")[0] > 40000


def test_garbage_utilisation_fault_spoils_one_sample(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [H100])

    devcluster.exporter_faults(NS, "train", garbage_util=True)

    assert values(scrape(devcluster, "train"), "DCGM_FI_DEV_GPU_UTIL") == [4294967295]
    assert values(scrape(devcluster, "train"), "DCGM_FI_DEV_GPU_UTIL")[0] <= 100


def test_drop_dcp_fault_removes_profiling_fields(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [H100])

    devcluster.exporter_faults(NS, "train", drop_dcp=True)
    text = scrape(devcluster, "train")

    assert "DCGM_FI_PROF_" not in text
    assert values(text, "DCGM_FI_DEV_GPU_UTIL")


def test_down_exporter_answers_503_and_unknown_vm_404(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [H100])
    devcluster.exporter_faults(NS, "train", down=True)

    with pytest.raises(urllib.error.HTTPError) as down:
        scrape(devcluster, "train")
    with pytest.raises(urllib.error.HTTPError) as unknown:
        scrape(devcluster, "nobody")

    assert down.value.code == 503
    assert unknown.value.code == 404


def test_file_sd_lists_running_gpu_vms_only(apps, devcluster):
    running_gpu_vm(apps, devcluster, "train", [H100])
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("cpu-system"), **DISKS)
    apps.create_namespaced_custom_object(namespace=NS, body=vm_instance("cpu", ["cpu-system"]), **INSTANCES)
    wait_until(
        lambda: any(
            vm["metadata"]["name"] == "vm-instance-cpu" and vm.get("status", {}).get("printableStatus") == "Running"
            for vm in apps.list_namespaced_custom_object(
                group="kubevirt.io", version="v1", plural="virtualmachines", namespace=NS
            )["items"]
        ),
        message="the CPU-only VM to run",
    )

    groups = json.loads(devcluster.file_sd.read_text())
    assert groups == [
        {
            "targets": [devcluster.exporter_url.removeprefix("http://")],
            "labels": {"__metrics_path__": f"/metrics/{NS}/train", "namespace": NS, "vm": "train"},
        }
    ]

    apps.patch_namespaced_custom_object(
        namespace=NS, name="train", body={"spec": {"runStrategy": "Halted"}}, **INSTANCES
    )
    wait_until(lambda: json.loads(devcluster.file_sd.read_text()) == [], message="the target to go away")


@pytest.mark.prometheus
def test_real_prometheus_scrapes_the_simulated_guests(apps, devcluster, tmp_path):
    running_gpu_vm(apps, devcluster, "train", [H100, H100])
    scrape_config = {
        "job_name": "dcgm-exporter",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "file_sd_configs": [{"files": [str(devcluster.file_sd)], "refresh_interval": "1s"}],
    }

    with PrometheusServer(tmp_path, scrape_configs=[scrape_config]) as prometheus:
        query = urllib.parse.urlencode({"query": f'DCGM_FI_DEV_GPU_UTIL{{namespace="{NS}",vm="train"}}'})

        def series():
            with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
            return len(result) == 2 and result

        result = wait_until(series, timeout=30, interval=0.25, message="Prometheus to scrape both GPUs")

    assert sorted(item["metric"]["gpu"] for item in result) == ["0", "1"]
    for item in result:
        assert item["metric"]["namespace"] == NS
        assert item["metric"]["vm"] == "train"
        assert item["metric"]["modelName"] == "NVIDIA H100 NVL"
        assert item["metric"]["job"] == "dcgm-exporter"
        assert 80 <= float(item["value"][1]) <= 100


def test_the_demos_history_labels_a_gpu_as_its_live_exporter_does(apps, devcluster):
    """vms.demo backfills a week before the VM boots: with the same labels, history and live
    samples are one series per GPU, not two that the charts and the fleet would both count."""
    running_gpu_vm(apps, devcluster, "train", [H100, H100])
    live = [labels for name, labels, _ in samples(scrape(devcluster, "train")) if name == "DCGM_FI_DEV_GPU_UTIL"]

    history = [
        dcgm_history.Gpu(
            NS,
            "train",
            index=index,
            uuid=live_gpu_uuid(NS, "train", index),
            model="NVIDIA H100 NVL",
            total_mib=95830,
            dcp=True,
            instance="127.0.0.1:8002",
            hostname="vm-instance-train",
        ).labels()
        for index in range(2)
    ]
    assert [{key: labels[key] for key in live[0]} for labels in history] == live
