"""A data scientist reads the GPU charts of a running VM on the development cluster, scraped
live by a real Prometheus, and switches the range."""

import json
import time
import urllib.parse
import urllib.request

import pytest
from kubernetes import client

from tests.devcluster.conftest import GROUP, VERSION, vm_disk, vm_instance
from tests.support.browser import log_in
from tests.support.devcluster import DevCluster
from tests.support.processes import wait_until
from tests.support.prometheus import PrometheusServer
from tests.vms.factories import make_vm
from vms.models import Membership, Team

pytestmark = [pytest.mark.browser, pytest.mark.prometheus, pytest.mark.django_db(transaction=True)]

NAMESPACE = "tenant-vision"
VM = "charts"


@pytest.fixture(scope="module")
def scraped_vm(tmp_path_factory):
    """A running two-GPU training VM on the development cluster and a Prometheus scraping its
    exporter every second, with at least 8 s of history."""
    workdir = tmp_path_factory.mktemp("gpu-charts")
    with DevCluster(workdir / "cluster", gpus="H100=2", namespaces=[NAMESPACE]) as cluster:
        api = cluster.api_client()
        apps = client.CustomObjectsApi(api)
        kinds = {"group": GROUP, "version": VERSION}
        apps.create_namespaced_custom_object(
            namespace=NAMESPACE, body=vm_disk(f"{VM}-system"), plural="vmdisks", **kinds
        )
        apps.create_namespaced_custom_object(
            namespace=NAMESPACE,
            plural="vminstances",
            **kinds,
            body=vm_instance(
                VM,
                [f"{VM}-system"],
                gpus=["nvidia.com/H100_94GB"] * 2,
                annotations={"devcluster.hikube.cloud/workload": "training"},
            ),
        )
        wait_until(
            lambda: any(
                vm["metadata"]["name"] == f"vm-instance-{VM}"
                and vm.get("status", {}).get("printableStatus") == "Running"
                for vm in apps.list_namespaced_custom_object(
                    group="kubevirt.io", version="v1", plural="virtualmachines", namespace=NAMESPACE
                )["items"]
            ),
            timeout=30,
            message="the KubeVirt VM to run",
        )
        scrape = {
            "job_name": "dcgm-exporter",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "file_sd_configs": [{"files": [str(cluster.file_sd)], "refresh_interval": "1s"}],
        }
        with PrometheusServer(workdir / "prometheus", scrape_configs=[scrape]) as prometheus:
            query = urllib.parse.urlencode(
                {"query": f'count_over_time(DCGM_FI_DEV_GPU_UTIL{{namespace="{NAMESPACE}",vm="{VM}"}}[1m])'}
            )

            def enough_history():
                with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=5) as response:
                    result = json.loads(response.read())["data"]["result"]
                return len(result) == 2 and all(float(item["value"][1]) >= 8 for item in result)

            wait_until(enough_history, timeout=60, interval=0.5, message="8 s of scraped history")
            yield prometheus
        api.close()


def test_gpu_tab_draws_live_charts_and_switches_range(page, make_user, screenshot, settings, scraped_vm):
    settings.PROMETHEUS_URL = scraped_vm.url
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 1
    user = make_user("dana", "s3cret-pass", first_name="Dana")
    team = Team.objects.create(name="vision")
    Membership.objects.create(team=team, user=user)
    vm = make_vm(team=team, owner=user, name=VM, gpu="H100", instance_type="g2.xlarge")

    log_in(page, "dana")

    started = time.monotonic()
    page.goto(f"/vms/{vm.pk}/gpus/?range=1h")
    page.get_by_role("heading", name=VM).wait_for()
    drawn = ("gpu_util", "tensor_active", "fb_used_percent", "fb_used", "power", "temperature", "sm_clock")
    for key in drawn:
        panel = page.locator(f".gpu-panel[data-panel={key}]")
        panel.locator("canvas").first.wait_for()
        assert panel.get_attribute("data-state") == "drawn", key
        assert int(panel.get_attribute("data-points")) > 0, key
        assert panel.locator(".gpu-legend tbody tr").count() == 2, key
    assert time.monotonic() - started < 15
    util_row = page.locator(".gpu-panel[data-panel=gpu_util] .gpu-legend tbody tr").first
    assert util_row.inner_text().startswith("GPU 0 · NVIDIA H100 NVL")
    assert "%" in util_row.inner_text()
    page.locator(".energy strong").wait_for()
    assert "kWh" in page.locator(".energy").inner_text()
    assert page.locator(".telemetry-message").count() == 0
    screenshot(page, "gpu-charts-1h")

    one_hour_step = int(page.locator(".gpu-panel[data-panel=power]").get_attribute("data-step"))
    page.get_by_role("link", name="6 h").click()
    page.wait_for_url("**/gpus/?range=6h")
    for key in drawn:
        panel = page.locator(f".gpu-panel[data-panel={key}]")
        panel.locator("canvas").first.wait_for()
        assert panel.get_attribute("data-state") == "drawn", key
    assert page.locator(".range-links [aria-current=true]").inner_text() == "6 h"
    assert "range=6h" in page.locator(".gpu-panel[data-panel=power]").get_attribute("data-url")
    # A longer range samples at a coarser step (comparing point counts would race the exporter's
    # history, which grows between the two page loads).
    assert int(page.locator(".gpu-panel[data-panel=power]").get_attribute("data-points")) > 0
    assert int(page.locator(".gpu-panel[data-panel=power]").get_attribute("data-step")) > one_hour_step > 0
    screenshot(page, "gpu-charts-6h")
