"""The simulated Cozystack/KubeVirt controller: progressions, failures, GPU scheduling, faults."""

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

from tests.devcluster.conftest import GROUP, VERSION, vm_disk, vm_instance
from tests.support.processes import wait_until

NS = "tenant-a"
DISKS = {"group": GROUP, "version": VERSION, "plural": "vmdisks"}
INSTANCES = {"group": GROUP, "version": VERSION, "plural": "vminstances"}
LEGACY = {"group": GROUP, "version": VERSION, "plural": "virtualmachines"}
KUBEVIRT_VMS = {"group": "kubevirt.io", "version": "v1", "plural": "virtualmachines"}
DATA_VOLUMES = {"group": "cdi.kubevirt.io", "version": "v1beta1", "plural": "datavolumes"}
H100 = "nvidia.com/H100_94GB"


class Recorder:
    """Collects every watch event of one custom resource in the background."""

    def __init__(self, apps, resource):
        self.events = []
        self._watch = watch.Watch()
        start = apps.list_namespaced_custom_object(namespace=NS, **resource)["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, args=(apps, resource, start), daemon=True)
        self._thread.start()

    def _run(self, apps, resource, start):
        try:
            for event in self._watch.stream(
                apps.list_namespaced_custom_object, namespace=NS, resource_version=start, timeout_seconds=20, **resource
            ):
                self.events.append((event["type"], event["object"]))
        except ProtocolError:
            return  # the test closed its client while the stream was still open

    def stop(self):
        self._watch.stop()

    def statuses(self, name):
        sequence = []
        for event_type, obj in list(self.events):
            if obj["metadata"]["name"] != name:
                continue
            status = "<deleted>" if event_type == "DELETED" else obj.get("status", {}).get("printableStatus")
            if status and (not sequence or sequence[-1] != status):
                sequence.append(status)
        return sequence


def get(apps, resource, name):
    try:
        return apps.get_namespaced_custom_object(namespace=NS, name=name, **resource)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def printable_status(apps, name):
    vm = get(apps, KUBEVIRT_VMS, name)
    return vm and vm.get("status", {}).get("printableStatus")


def wait_status(apps, name, expected, timeout=10):
    return wait_until(
        lambda: printable_status(apps, name) == expected,
        timeout=timeout,
        message=f"{name} to be {expected} (is {printable_status(apps, name)})",
    )


def condition(obj, condition_type):
    return next((c for c in (obj or {}).get("status", {}).get("conditions", []) if c["type"] == condition_type), {})


def create_vm(apps, name, gpus=(), **kwargs):
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk(f"{name}-system"), **DISKS)
    return apps.create_namespaced_custom_object(
        namespace=NS, body=vm_instance(name, [f"{name}-system"], gpus=gpus, **kwargs), **INSTANCES
    )


def power(api, name, action):
    api.call_api(
        f"/apis/subresources.kubevirt.io/v1/namespaces/{NS}/virtualmachines/{name}/{action}",
        "PUT",
        auth_settings=["BearerToken"],
        body={},
        response_types_map={},
        _return_http_data_only=True,
    )


def events_for(core, name):
    return [
        (e.reason, e.message)
        for e in core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}").items
    ]


def test_disk_imports_through_cdi_phases(apps, core):
    recorder = Recorder(apps, DATA_VOLUMES)
    apps.create_namespaced_custom_object(
        namespace=NS, body=vm_disk("boot", labels={"portal.hikube.cloud/vm-id": "7"}), **DISKS
    )

    wait_until(lambda: condition(get(apps, DISKS, "boot"), "Ready").get("status") == "True")
    data_volume = wait_until(
        lambda: (dv := get(apps, DATA_VOLUMES, "vm-disk-boot")) and dv["status"]["phase"] == "Succeeded" and dv
    )
    wait_until(lambda: recorder.events and recorder.events[-1][1].get("status", {}).get("phase") == "Succeeded")
    recorder.stop()

    # A new DataVolume has no status until CDI writes one, as on a real API server.
    assert "status" not in recorder.events[0][1]
    phases = [obj["status"]["phase"] for _, obj in recorder.events if "status" in obj]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "Pending",
        "ImportScheduled",
        "ImportInProgress",
        "Succeeded",
    ]
    progresses = [
        obj["status"]["progress"]
        for _, obj in recorder.events
        if obj.get("status", {}).get("phase") == "ImportInProgress"
    ]
    assert all(p.endswith("%") and 0 <= float(p[:-1]) < 100 for p in progresses)
    assert data_volume["status"]["progress"] == "100.0%"
    # The chart's label and annotation only: the app's own labels are never copied.
    assert data_volume["metadata"]["labels"] == {"app.kubernetes.io/instance": "vm-disk-boot"}
    assert data_volume["metadata"]["annotations"] == {"vm-disk.cozystack.io/optical": "false"}
    assert ("ImportSucceeded", "Successfully imported into PVC vm-disk-boot") in events_for(core, "vm-disk-boot")


def test_instance_goes_provisioning_starting_running(apps, core):
    recorder = Recorder(apps, KUBEVIRT_VMS)
    create_vm(apps, "web", external=True, labels={"portal.hikube.cloud/vm-id": "42"})

    wait_status(apps, "vm-instance-web", "Running")
    wait_until(lambda: recorder.statuses("vm-instance-web")[-1:] == ["Running"])
    recorder.stop()

    assert recorder.statuses("vm-instance-web") == ["Provisioning", "Starting", "Running"]
    vm = get(apps, KUBEVIRT_VMS, "vm-instance-web")
    assert vm["status"]["ready"] is True
    assert condition(vm, "Ready")["status"] == "True"
    assert "portal.hikube.cloud/vm-id" not in vm["metadata"]["labels"]
    assert condition(get(apps, INSTANCES, "web"), "Ready")["reason"] == "InstallSucceeded"
    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/instance=vm-instance-web").items
    assert len(pods) == 1
    assert pods[0].metadata.name.startswith("virt-launcher-vm-instance-web-")
    assert pods[0].status.phase == "Running"
    assert pods[0].metadata.labels["vm.kubevirt.io/name"] == "vm-instance-web"
    assert "portal.hikube.cloud/vm-id" not in pods[0].metadata.labels
    service = core.read_namespaced_service("vm-instance-web", NS)
    assert service.spec.type == "LoadBalancer"
    assert service.status.load_balancer.ingress[0].ip.startswith("203.0.113.")
    reasons = [reason for reason, _ in events_for(core, "vm-instance-web")]
    assert "SuccessfulCreate" in reasons and "Started" in reasons


def test_private_instance_has_no_service(apps, core):
    create_vm(apps, "private")
    wait_status(apps, "vm-instance-private", "Running")

    with pytest.raises(ApiException) as error:
        core.read_namespaced_service("vm-instance-private", NS)

    assert error.value.status == 404


@pytest.mark.parametrize(
    ("spec_change", "message"),
    [
        ({"instanceType": "g9.huge"}, "Specified instanceType does not exist in the cluster: g9.huge"),
        ({"instanceProfile": "beos"}, "Specified profile not exists in cluster: beos"),
    ],
)
def test_unknown_chart_values_fail_the_helm_install(apps, spec_change, message):
    body = vm_instance("bad", [])
    body["spec"].update(spec_change)
    apps.create_namespaced_custom_object(namespace=NS, body=body, **INSTANCES)

    ready = wait_until(lambda: (c := condition(get(apps, INSTANCES, "bad"), "Ready")).get("status") == "False" and c)

    assert ready["reason"] == "InstallFailed"
    assert message in ready["message"]
    assert condition(get(apps, INSTANCES, "bad"), "Released")["reason"] == "InstallFailed"
    assert get(apps, KUBEVIRT_VMS, "vm-instance-bad") is None


def test_instance_with_missing_disk_fails_until_the_disk_exists(apps):
    apps.create_namespaced_custom_object(namespace=NS, body=vm_instance("early", ["later"]), **INSTANCES)
    ready = wait_until(lambda: (c := condition(get(apps, INSTANCES, "early"), "Ready")).get("status") == "False" and c)
    assert ready["message"].endswith("Specified disk not exists in cluster: vm-disk-later")

    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("later"), **DISKS)

    wait_status(apps, "vm-instance-early", "Running")
    assert condition(get(apps, INSTANCES, "early"), "Ready")["status"] == "True"


def test_gpu_exhaustion_leaves_vm_unschedulable_until_gpus_free(apps, core, devcluster):
    create_vm(apps, "big", gpus=[H100, H100])
    wait_status(apps, "vm-instance-big", "Running")
    create_vm(apps, "small", gpus=[H100])

    wait_status(apps, "vm-instance-small", "ErrorUnschedulable")
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/H100_94GB."
    pod_events = wait_until(
        lambda: [e for e in core.list_namespaced_event(NS, field_selector="reason=FailedScheduling").items]
    )
    assert pod_events[0].type == "Warning"
    assert pod_events[0].message.startswith(message)
    assert pod_events[0].involved_object.name.startswith("virt-launcher-vm-instance-small-")
    assert condition(get(apps, KUBEVIRT_VMS, "vm-instance-small"), "PodScheduled")["message"].startswith(message)
    assert devcluster.state()["controller"]["gpus"][H100] == {"capacity": 2, "free": 0}

    apps.delete_namespaced_custom_object(namespace=NS, name="big", **INSTANCES)

    wait_status(apps, "vm-instance-small", "Running")
    assert devcluster.state()["controller"]["gpus"][H100] == {"capacity": 2, "free": 1}


def test_halting_stops_the_vm_and_releases_its_gpus(apps, core, devcluster):
    create_vm(apps, "batch", gpus=[H100])
    wait_status(apps, "vm-instance-batch", "Running")

    apps.patch_namespaced_custom_object(
        namespace=NS, name="batch", body={"spec": {"runStrategy": "Halted"}}, **INSTANCES
    )

    wait_status(apps, "vm-instance-batch", "Stopped")
    assert core.list_namespaced_pod(NS, label_selector="vm.kubevirt.io/name=vm-instance-batch").items == []
    assert devcluster.state()["controller"]["gpus"][H100]["free"] == 2
    assert get(apps, INSTANCES, "batch")["metadata"]["generation"] == 2


def test_power_subresources_stop_start_and_restart(apps, api, core):
    create_vm(apps, "power")
    wait_status(apps, "vm-instance-power", "Running")
    first_pod = core.list_namespaced_pod(NS, label_selector="vm.kubevirt.io/name=vm-instance-power").items[0]

    power(api, "vm-instance-power", "restart")
    wait_until(
        lambda: [
            p
            for p in core.list_namespaced_pod(NS, label_selector="vm.kubevirt.io/name=vm-instance-power").items
            if p.metadata.name != first_pod.metadata.name and p.status.phase == "Running"
        ]
    )
    wait_status(apps, "vm-instance-power", "Running")

    power(api, "vm-instance-power", "stop")
    wait_status(apps, "vm-instance-power", "Stopped")
    assert get(apps, KUBEVIRT_VMS, "vm-instance-power")["spec"]["runStrategy"] == "Halted"
    with pytest.raises(ApiException) as not_running:
        power(api, "vm-instance-power", "restart")
    assert not_running.value.status == 409

    power(api, "vm-instance-power", "start")
    wait_status(apps, "vm-instance-power", "Running")
    with pytest.raises(ApiException) as already_running:
        power(api, "vm-instance-power", "start")
    assert already_running.value.status == 409


def test_deleting_an_instance_terminates_then_removes_everything(apps, core, devcluster):
    create_vm(apps, "gone", gpus=[H100], external=True)
    wait_status(apps, "vm-instance-gone", "Running")
    recorder = Recorder(apps, KUBEVIRT_VMS)
    instances = Recorder(apps, INSTANCES)

    apps.delete_namespaced_custom_object(namespace=NS, name="gone", **INSTANCES)

    wait_until(lambda: get(apps, INSTANCES, "gone") is None)
    # The watch streams deliver the deletions a moment after the objects are gone.
    wait_until(lambda: recorder.statuses("vm-instance-gone")[-1:] == ["<deleted>"])
    wait_until(lambda: instances.events and instances.events[-1][0] == "DELETED")
    recorder.stop()
    instances.stop()
    assert recorder.statuses("vm-instance-gone")[-2:] == ["Terminating", "<deleted>"]
    assert instances.events[0][1]["metadata"]["deletionTimestamp"]
    assert instances.events[-1][0] == "DELETED"
    assert get(apps, KUBEVIRT_VMS, "vm-instance-gone") is None
    assert core.list_namespaced_pod(NS).items == []
    assert core.list_namespaced_service(NS).items == []
    assert devcluster.state()["controller"]["gpus"][H100]["free"] == 2


def test_disk_in_use_stays_terminating_until_its_instance_is_gone(apps):
    create_vm(apps, "holder")
    wait_status(apps, "vm-instance-holder", "Running")

    apps.delete_namespaced_custom_object(namespace=NS, name="holder-system", **DISKS)
    time.sleep(0.2)  # several controller passes

    disk = get(apps, DISKS, "holder-system")
    assert disk["metadata"]["deletionTimestamp"]
    assert get(apps, DATA_VOLUMES, "vm-disk-holder-system") is not None
    apps.delete_namespaced_custom_object(namespace=NS, name="holder", **INSTANCES)
    wait_until(lambda: get(apps, DISKS, "holder-system") is None)
    assert get(apps, DATA_VOLUMES, "vm-disk-holder-system") is None


def test_legacy_virtual_machine_shape(apps):
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualMachine",
        "metadata": {"name": "old"},
        "spec": {
            "running": True,
            "instanceType": "u1.medium",
            "instanceProfile": "ubuntu",
            "systemDisk": {"image": "ubuntu", "storage": "20Gi", "storageClass": "replicated"},
            "gpus": [{"name": "nvidia.com/AD102GL_L40S"}],
        },
    }
    apps.create_namespaced_custom_object(namespace=NS, body=body, **LEGACY)

    wait_status(apps, "virtual-machine-old", "Running")
    assert get(apps, DATA_VOLUMES, "virtual-machine-old")["status"]["phase"] == "Succeeded"

    apps.patch_namespaced_custom_object(namespace=NS, name="old", body={"spec": {"running": False}}, **LEGACY)
    wait_status(apps, "virtual-machine-old", "Stopped")


def test_deleting_a_namespace_removes_its_vms(apps, core):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="tenant-tmp")))
    apps.create_namespaced_custom_object(namespace="tenant-tmp", body=vm_disk("d"), **DISKS)

    core.delete_namespace("tenant-tmp")

    wait_until(lambda: "tenant-tmp" not in [ns.metadata.name for ns in core.list_namespace().items])
    assert apps.list_namespaced_custom_object(namespace="tenant-tmp", **DISKS)["items"] == []


# -- fault knobs -----------------------------------------------------------------------------------------------


def test_latency_fault_slows_every_request(apps, devcluster):
    devcluster.faults(latency_ms=150)

    started = time.monotonic()
    apps.list_namespaced_custom_object(namespace=NS, **DISKS)

    assert time.monotonic() - started >= 0.15


def test_a_slow_request_does_not_land_after_a_reset(apps, devcluster):
    """Tests reset the cluster between them: a write still in flight from the previous test
    must not create objects in the next one's clean cluster."""
    devcluster.faults(latency_ms=400)
    outcome = {}

    def create():
        try:
            apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("late"), **DISKS)
            outcome["status"] = 201
        except ApiException as error:
            outcome["status"] = error.status

    writer = threading.Thread(target=create)
    writer.start()
    time.sleep(0.1)
    devcluster.reset()
    writer.join(timeout=5)
    assert outcome["status"] == 503
    assert get(apps, DISKS, "late") is None


def test_a_refused_fault_update_changes_nothing(devcluster):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as error:
        devcluster.faults(latency_ms=100, error_rate=5)
    assert error.value.code == 400
    assert devcluster.state()["faults"]["latency_ms"] == 0


def test_error_rate_fault_answers_500(apps, devcluster):
    devcluster.faults(error_rate=1)
    with pytest.raises(ApiException) as error:
        apps.list_namespaced_custom_object(namespace=NS, **DISKS)
    assert error.value.status == 500

    devcluster.faults(error_rate=0.5)
    outcomes = []
    for _ in range(60):
        try:
            apps.list_namespaced_custom_object(namespace=NS, **DISKS)
            outcomes.append(200)
        except ApiException as failure:
            outcomes.append(failure.status)
    assert set(outcomes) == {200, 500}


def test_refused_writes_leave_a_kept_alive_connection_usable(apps, devcluster):
    """An injected 500 on a create must consume the request body, or the next request on the
    same pooled connection would be parsed from its leftovers."""
    devcluster.faults(error_rate=1)
    for _ in range(3):
        with pytest.raises(ApiException) as error:
            apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("refused"), **DISKS)
        assert error.value.status == 500
        assert "injected by devcluster" in error.value.body
    devcluster.faults(error_rate=0)
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("accepted"), **DISKS)
    assert get(apps, DISKS, "accepted")["metadata"]["name"] == "accepted"


def test_conflict_rate_fault_answers_409_to_updates(apps, devcluster):
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("c"), **DISKS)
    devcluster.faults(conflict_rate=1)

    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_custom_object(namespace=NS, name="c", body={"spec": {"storage": "6Gi"}}, **DISKS)

    assert error.value.status == 409
    assert get(apps, DISKS, "c")["spec"]["storage"] == "20Gi"


def test_drop_watch_fault_ends_streams_early(apps, devcluster):
    devcluster.faults(paused=True, drop_watch_after_events=2)
    for name in ("w1", "w2", "w3"):
        apps.create_namespaced_custom_object(namespace=NS, body=vm_disk(name), **DISKS)

    response = apps.list_namespaced_custom_object(
        namespace=NS, watch=True, _preload_content=False, timeout_seconds=5, **DISKS
    )
    started = time.monotonic()
    lines = [line for line in response.read().decode().splitlines() if line]

    assert len(lines) == 2
    assert time.monotonic() - started < 2


def test_paused_controller_makes_no_progress_until_resumed(apps, devcluster):
    devcluster.faults(paused=True)
    apps.create_namespaced_custom_object(namespace=NS, body=vm_disk("frozen"), **DISKS)
    time.sleep(0.2)  # dozens of controller ticks at test speed

    assert get(apps, DATA_VOLUMES, "vm-disk-frozen") is None
    assert "status" not in get(apps, DISKS, "frozen")

    devcluster.faults(paused=False)
    wait_until(lambda: (dv := get(apps, DATA_VOLUMES, "vm-disk-frozen")) and dv["status"]["phase"] == "Succeeded")
