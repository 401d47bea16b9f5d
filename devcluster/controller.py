"""The simulated Cozystack charts, CDI, KubeVirt and scheduler.

One background thread reconciles every apps object on each tick, level-triggered like the real
controllers: it renders the chart (or fails the way Helm does), imports disks, schedules VMs on
a finite GPU inventory, and moves each KubeVirt VM through the phases `kubectl get vm` shows.

Deletion: apps objects carry a finalizer, so a deleted VMInstance stays with a deletionTimestamp
while its KubeVirt VM is Terminating, then vanishes with everything it rendered. A VMDisk
deleted while an instance still lists it stays Terminating until that instance is gone, as the
PVC protection finalizer keeps a disk a running VM uses.
"""

import logging
import secrets
import threading
import time
import zlib
from dataclasses import dataclass

from devcluster import catalogue
from devcluster.kinds import (
    DATA_VOLUME,
    EVENT,
    KUBEVIRT_VM,
    LEGACY_VIRTUAL_MACHINE,
    NAMESPACE,
    POD,
    SERVICE,
    VM_DISK,
    VM_INSTANCE,
    Kind,
)
from devcluster.store import Store, timestamp

log = logging.getLogger(__name__)

FINALIZER = "finalizers.fluxcd.io"
WORKLOAD_ANNOTATION = "devcluster.hikube.cloud/workload"
WORKLOAD_PROFILES = ("training", "inference", "idle")
NODE_COUNT = 3
CHART_VERSION = "0.1.0"
RUNNING_STRATEGIES = {"Always", "RerunOnFailure", "Once"}

# Seconds each step takes on a real cluster; --speed and --time-scale shrink them.
REALISTIC_DURATIONS = {
    "helm": 1.5,
    "import_scheduled": 2.0,
    "import": 15.0,
    "scheduling": 1.0,
    "boot": 7.0,
    "stop": 2.0,
    "terminate": 3.0,
}
SPEEDS = {"realistic": 1.0, "fast": 0.004}


@dataclass
class InstanceShape:
    """What the controller needs from a VMInstance or a legacy VirtualMachine."""

    kind: Kind
    name: str
    namespace: str
    vm_name: str
    disk_volumes: list[str]
    missing_disks: list[str]
    gpus: dict[str, int]
    run_strategy: str
    instance_type: str
    instance_profile: str
    external: bool
    external_ports: list
    external_method: str


@dataclass
class InstancePhase:
    phase: str = "Stopped"
    since: float = 0.0
    transition_time: str = ""
    applied_generation: int = 0
    helm_generation: int = 0
    helm_since: float = 0.0
    pod_name: str = ""
    manual_running: bool = False
    restart_requested: bool = False
    started_at: float = 0.0


@dataclass
class DiskPhase:
    helm_since: float
    phase: str = "Pending"
    since: float = 0.0
    helm_generation: int = 0


@dataclass(frozen=True)
class GpuGuest:
    """A running VM whose in-guest DCGM exporter is simulated."""

    namespace: str
    vm: str
    hostname: str
    uid: str
    gpu_resources: tuple[str, ...]
    started_at: float
    profile: str


class GpuInventory:
    def __init__(self, capacity: dict[str, int]):
        self.capacity = dict(capacity)
        self.allocations: dict[str, dict[str, int]] = {}

    def free(self, resource: str) -> int:
        used = sum(allocation.get(resource, 0) for allocation in self.allocations.values())
        return self.capacity.get(resource, 0) - used

    def allocate(self, holder: str, request: dict[str, int]) -> list[str]:
        """Allocates all or nothing; returns the resources that are short."""
        short = [resource for resource, count in sorted(request.items()) if self.free(resource) < count]
        if not short:
            self.allocations[holder] = dict(request)
        return short

    def release(self, holder: str) -> None:
        self.allocations.pop(holder, None)

    def snapshot(self) -> dict:
        return {resource: {"capacity": capacity, "free": self.free(resource)}
                for resource, capacity in sorted(self.capacity.items())}


def gpu_request(gpus) -> dict[str, int]:
    request: dict[str, int] = {}
    for gpu in gpus or []:
        name = gpu.get("name") if isinstance(gpu, dict) else None
        if name:
            request[name] = request.get(name, 0) + 1
    return request


def condition(condition_type, status, reason, message, transition_time):
    return {"type": condition_type, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": transition_time}


class Controller:
    def __init__(self, store: Store, gpu_capacity: dict[str, int], *, time_scale: float,
                 on_guests_changed=None):
        self.store = store
        self.time_scale = time_scale
        self.durations = {step: seconds * time_scale for step, seconds in REALISTIC_DURATIONS.items()}
        self.tick_seconds = max(0.01, 0.25 * time_scale)
        self.gpu_capacity = dict(gpu_capacity)
        self.on_guests_changed = on_guests_changed or (lambda guests: None)
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devcluster-controller", daemon=True)
        self.reset()

    def reset(self) -> None:
        with self.store.condition:
            self.inventory = GpuInventory(self.gpu_capacity)
            self.instances: dict[str, InstancePhase] = {}
            self.disks: dict[str, DiskPhase] = {}
            self.event_names: dict[tuple, str] = {}
            self.guests: tuple[GpuGuest, ...] = ()
            self.on_guests_changed(self.guests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def set_paused(self, paused: bool) -> None:
        # Under the store lock: once this returns, no reconcile pass is running or will start.
        with self.store.condition:
            self.paused = paused

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.reconcile()
            except Exception:
                log.exception("reconcile failed")

    # -- subresources (start/stop/restart), called by the API layer ----------------------------

    def request_power_change(self, namespace: str, vm_name: str, action: str) -> str | None:
        """Applies start/stop/restart to a KubeVirt VM; returns an error message for a 409, if any."""
        with self.store.condition:
            vm = self.store.get(KUBEVIRT_VM, namespace, vm_name)
            owner = self._instance_owner(namespace, vm)
            state = self.instances.get(owner["metadata"]["uid"]) if owner else None
            if state is None:
                return "VM is not managed by a running controller"
            strategy = vm["spec"].get("runStrategy", "Always")
            running = state.phase in ("Starting", "Running", "ErrorUnschedulable", "Provisioning")
            if action == "start":
                if strategy in RUNNING_STRATEGIES and running:
                    return f"{strategy} does not support manual start requests"
                if strategy == "Manual":
                    state.manual_running = True
                else:
                    vm["spec"]["runStrategy"] = "Always"
            elif action == "stop":
                if not running and state.phase != "Stopping":
                    return "VM is not running"
                if strategy == "Manual":
                    state.manual_running = False
                else:
                    vm["spec"]["runStrategy"] = "Halted"
            else:
                if state.phase not in ("Starting", "Running"):
                    return "VM is not running"
                state.restart_requested = True
            self.store.put(KUBEVIRT_VM, vm)
            return None

    def _instance_owner(self, namespace: str, vm: dict) -> dict | None:
        for kind, prefix in ((VM_INSTANCE, "vm-instance-"), (LEGACY_VIRTUAL_MACHINE, "virtual-machine-")):
            name = vm["metadata"]["name"]
            if name.startswith(prefix):
                owner = self.store.find(kind, namespace, name[len(prefix):])
                if owner is not None:
                    return owner
        return None

    # -- the reconcile pass ------------------------------------------------------------------

    def reconcile(self) -> None:
        with self.store.condition:
            if self.paused:
                return
            now = time.monotonic()
            self._finalize_namespaces()
            disks, _ = self.store.list(VM_DISK)
            instances, _ = self.store.list(VM_INSTANCE)
            legacy, _ = self.store.list(LEGACY_VIRTUAL_MACHINE)
            # The scheduler serves waiting VMs oldest first.
            by_age = sorted(instances + legacy,
                            key=lambda app: (app["metadata"]["creationTimestamp"], app["metadata"]["name"]))
            for disk in disks:
                self._reconcile_disk(disk, instances, now)
            for app in by_age:
                kind = VM_INSTANCE if app["kind"] == "VMInstance" else LEGACY_VIRTUAL_MACHINE
                self._reconcile_instance(kind, app, now)
            self._collect_orphans(disks, instances + legacy)
            self._publish_guests(instances + legacy)

    def _finalize_namespaces(self) -> None:
        namespaces, _ = self.store.list(NAMESPACE)
        for namespace in namespaces:
            if not namespace["metadata"].get("deletionTimestamp"):
                continue
            name = namespace["metadata"]["name"]
            for kind in (VM_INSTANCE, LEGACY_VIRTUAL_MACHINE, VM_DISK):
                for app in self.store.list(kind, name)[0]:
                    self.store.mark_deleted(kind, app)
            for event in self.store.list(EVENT, name)[0]:
                if not self._owned_by_live_object(event):
                    self.store.remove(EVENT, name, event["metadata"]["name"])
            if self.store.namespace_is_empty(name):
                self.store.remove(NAMESPACE, None, name)

    def _owned_by_live_object(self, event: dict) -> bool:
        involved = event.get("involvedObject", {})
        return any(self.store.find(kind, involved.get("namespace"), involved.get("name", "")) is not None
                   for kind in (VM_INSTANCE, VM_DISK, LEGACY_VIRTUAL_MACHINE, KUBEVIRT_VM, POD, DATA_VOLUME))

    # -- Helm ---------------------------------------------------------------------------------

    def _helm_status(self, app: dict, state, now: float, error: str | None, release: str) -> bool:
        """Sets the app's Ready/Released conditions like the HelmRelease; True once rendered."""
        generation = app["metadata"].get("generation", 1)
        if state.helm_generation != generation:
            state.helm_generation, state.helm_since = generation, now
        namespace = app["metadata"]["namespace"]
        upgrade = generation > 1
        action = "upgrade" if upgrade else "install"
        chart = f"{self._chart_of(app)}@{CHART_VERSION}"
        previous = (app.get("status") or {}).get("conditions") or []
        previous_ready = next((c for c in previous if c["type"] == "Ready"), {})
        if now - state.helm_since < self.durations["helm"]:
            if previous_ready.get("observedGeneration") == generation:
                return previous_ready.get("status") == "True"
            status, reason, message = "Unknown", "Progressing", f"Running '{action}' action with timeout of 5m0s"
        elif error:
            status, reason = "False", "UpgradeFailed" if upgrade else "InstallFailed"
            message = (f"Helm {action} failed for release {namespace}/{release} with chart {chart}: "
                       f"execution error at ({self._chart_of(app)}/templates/vm.yaml:1:4): {error}")
        else:
            status, reason = "True", "UpgradeSucceeded" if upgrade else "InstallSucceeded"
            message = (f"Helm {action} succeeded for release {namespace}/{release}.v{generation} "
                       f"with chart {chart}")
        transition = previous_ready.get("lastTransitionTime") if previous_ready.get("reason") == reason \
            else timestamp()
        ready = condition("Ready", status, reason, message, transition)
        ready["observedGeneration"] = generation
        released = condition("Released", status, reason, message, transition)
        released["observedGeneration"] = generation
        if previous_ready.get("reason") != reason:
            self._event(app, reason, message, warning=status == "False", component="helm-controller")
        app["status"] = {"conditions": [ready, released], "version": CHART_VERSION,
                         "observedGeneration": generation if status != "Unknown" else generation - 1}
        self.store.put(self._kind_of(app), app)
        return status == "True"

    @staticmethod
    def _chart_of(app: dict) -> str:
        return {"VMInstance": "vm-instance", "VMDisk": "vm-disk"}.get(app["kind"], "virtual-machine")

    @staticmethod
    def _kind_of(app: dict) -> Kind:
        return {"VMInstance": VM_INSTANCE, "VMDisk": VM_DISK}.get(app["kind"], LEGACY_VIRTUAL_MACHINE)

    def _ensure_finalizer(self, kind: Kind, app: dict) -> None:
        finalizers = app["metadata"].setdefault("finalizers", [])
        if FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
            app.update(self.store.put(kind, app))

    def _release_finalizer(self, kind: Kind, app: dict) -> None:
        app["metadata"]["finalizers"] = [f for f in app["metadata"].get("finalizers", []) if f != FINALIZER]
        self.store.put(kind, app)

    def _helm_metadata(self, app: dict, release: str, extra_labels: dict | None = None) -> dict:
        labels = dict(app["metadata"].get("labels") or {})
        labels.update({
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/managed-by": "Helm",
            "helm.toolkit.fluxcd.io/name": release,
            "helm.toolkit.fluxcd.io/namespace": app["metadata"]["namespace"],
        })
        labels.update(extra_labels or {})
        return {
            "name": release,
            "namespace": app["metadata"]["namespace"],
            "labels": labels,
            "annotations": {"meta.helm.sh/release-name": release,
                            "meta.helm.sh/release-namespace": app["metadata"]["namespace"]},
        }

    # -- disks --------------------------------------------------------------------------------

    def _reconcile_disk(self, disk: dict, instances: list[dict], now: float) -> None:
        uid, name, namespace = disk["metadata"]["uid"], disk["metadata"]["name"], disk["metadata"]["namespace"]
        state = self.disks.setdefault(uid, DiskPhase(helm_since=now, since=now))
        release = f"vm-disk-{name}"
        if disk["metadata"].get("deletionTimestamp"):
            in_use = any(name in [d.get("name") for d in (i.get("spec") or {}).get("disks") or []
                                  if isinstance(d, dict)] for i in instances if i["metadata"]["namespace"] == namespace)
            if not in_use:
                self.store.remove(DATA_VOLUME, namespace, release)
                self._release_finalizer(VM_DISK, disk)
                self.disks.pop(uid, None)
            return
        self._ensure_finalizer(VM_DISK, disk)
        if not self._helm_status(disk, state, now, None, release):
            return
        source = (disk.get("spec") or {}).get("source") or {}
        self._advance_data_volume(disk, state, now, release, source, (disk.get("spec") or {}).get("storage", "5Gi"),
                                  (disk.get("spec") or {}).get("storageClass", "replicated"))

    def _advance_data_volume(self, app: dict, state: DiskPhase, now: float, name: str, source: dict,
                             storage, storage_class: str) -> None:
        namespace = app["metadata"]["namespace"]
        if "upload" in source:
            steps = ("Pending", "UploadScheduled", "UploadReady")
        elif "disk" in source:
            steps = ("Pending", "CloneScheduled", "CloneInProgress", "Succeeded")
        else:
            steps = ("Pending", "ImportScheduled", "ImportInProgress", "Succeeded")
        scheduled, transfer = self.durations["import_scheduled"], self.durations["import"]
        step_durations = {"Pending": self.durations["scheduling"], "ImportScheduled": scheduled,
                          "CloneScheduled": scheduled, "UploadScheduled": scheduled,
                          "ImportInProgress": transfer, "CloneInProgress": transfer}
        existing = self.store.find(DATA_VOLUME, namespace, name)
        if existing is None:
            state.phase, state.since = "Pending", now
        elif state.phase in step_durations and now - state.since >= step_durations[state.phase]:
            state.phase, state.since = steps[steps.index(state.phase) + 1], now
        progress = "N/A"
        if state.phase.endswith("InProgress"):
            share = min(0.99, (now - state.since) / max(self.durations["import"], 1e-9))
            progress = f"{share * 100:.2f}%"
        elif state.phase == "Succeeded":
            progress = "100.0%"
        succeeded = state.phase == "Succeeded"
        previous_phase = (existing or {}).get("status", {}).get("phase")
        transition = existing["status"]["conditions"][0]["lastTransitionTime"] \
            if previous_phase == state.phase else timestamp()
        data_volume = {
            "metadata": self._helm_metadata(app, name) if app["kind"] == "VMDisk" else
            self._helm_metadata(app, f"virtual-machine-{app['metadata']['name']}"),
            "spec": {"source": self._data_volume_source(source, namespace),
                     "storage": {"resources": {"requests": {"storage": storage}}, "storageClassName": storage_class}},
            "status": {
                "phase": state.phase,
                "progress": progress,
                "claimName": name,
                "conditions": [
                    condition("Bound", "True" if state.phase != "Pending" else "False",
                              "Bound" if state.phase != "Pending" else "Pending",
                              f"PVC {name} Bound" if state.phase != "Pending" else f"PVC {name} Pending",
                              transition),
                    condition("Ready", "True" if succeeded else "False",
                              "Completed" if succeeded else "TransferRunning", "", transition),
                    condition("Running", "True" if state.phase.endswith("InProgress") else "False",
                              "Pod is running" if state.phase.endswith("InProgress") else "Completed", "",
                              transition),
                ],
            },
        }
        data_volume["metadata"]["name"] = name
        stored = self.store.put(DATA_VOLUME, data_volume)
        if previous_phase != state.phase:
            messages = {
                "Pending": f"PVC {name} Pending", "ImportScheduled": f"Import into {name} scheduled",
                "ImportInProgress": f"Import into {name} in progress",
                "CloneScheduled": f"Cloning into {name} scheduled",
                "CloneInProgress": f"Cloning into {name} in progress",
                "UploadScheduled": f"Upload into {name} scheduled", "UploadReady": f"Upload into {name} ready",
                "Succeeded": f"Successfully imported into PVC {name}",
            }
            reason = "ImportSucceeded" if succeeded else state.phase
            self._event(stored, reason, messages[state.phase], component="datavolume-controller")

    @staticmethod
    def _data_volume_source(source: dict, namespace: str) -> dict:
        if isinstance(source.get("image"), dict):
            return {"pvc": {"name": f"vm-image-{source['image'].get('name')}", "namespace": "cozy-public"}}
        if isinstance(source.get("http"), dict):
            return {"http": {"url": source["http"].get("url", "")}}
        if isinstance(source.get("disk"), dict):
            return {"pvc": {"name": f"vm-disk-{source['disk'].get('name')}", "namespace": namespace}}
        if "upload" in source:
            return {"upload": {}}
        return {"blank": {}}

    # -- instances ----------------------------------------------------------------------------

    def _shape(self, kind: Kind, app: dict) -> InstanceShape:
        spec = app.get("spec") or {}
        name, namespace = app["metadata"]["name"], app["metadata"]["namespace"]
        if kind is VM_INSTANCE:
            disk_names = [d.get("name") for d in spec.get("disks") or [] if isinstance(d, dict)]
            missing = [d for d in disk_names if self.store.find(VM_DISK, namespace, d or "") is None]
            volumes = [f"vm-disk-{d}" for d in disk_names]
            vm_name = f"vm-instance-{name}"
            run_strategy = spec.get("runStrategy", "Always")
        else:
            missing, vm_name = [], f"virtual-machine-{name}"
            volumes = [vm_name]
            run_strategy = spec.get("runStrategy") or ("Always" if spec.get("running", True) else "Halted")
        return InstanceShape(
            kind=kind, name=name, namespace=namespace, vm_name=vm_name, disk_volumes=volumes,
            missing_disks=missing, gpus=gpu_request(spec.get("gpus")), run_strategy=run_strategy,
            instance_type=spec.get("instanceType", "u1.medium"),
            instance_profile=spec.get("instanceProfile", "ubuntu"), external=bool(spec.get("external")),
            external_ports=spec.get("externalPorts", [22]), external_method=spec.get("externalMethod", "PortList"),
        )

    @staticmethod
    def _render_error(shape: InstanceShape) -> str | None:
        if shape.instance_type and shape.instance_type not in catalogue.INSTANCE_TYPES:
            return f"Specified instancetype not exists in cluster: {shape.instance_type}"
        if shape.instance_profile and shape.instance_profile not in catalogue.INSTANCE_PROFILES:
            return f"Specified profile not exists in cluster: {shape.instance_profile}"
        if shape.missing_disks:
            return f"Specified disk not exists in cluster: {shape.missing_disks[0]}"
        return None

    def _reconcile_instance(self, kind: Kind, app: dict, now: float) -> None:
        uid = app["metadata"]["uid"]
        state = self.instances.setdefault(uid, InstancePhase(since=now, transition_time=timestamp(),
                                                             helm_since=now))
        shape = self._shape(kind, app)
        if app["metadata"].get("deletionTimestamp"):
            self._terminate(kind, app, shape, state, now)
            return
        self._ensure_finalizer(kind, app)
        if not self._helm_status(app, state, now, self._render_error(shape), shape.vm_name):
            return
        generation = app["metadata"].get("generation", 1)
        vm = self.store.find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if vm is None or state.applied_generation != generation:
            vm = self._render_vm(app, shape, vm)
            state.applied_generation = generation
            self._render_service(app, shape)
        if kind is LEGACY_VIRTUAL_MACHINE:
            self._reconcile_legacy_system_disk(app, now)
        self._advance_vm(app, shape, vm, state, now)

    def _render_vm(self, app: dict, shape: InstanceShape, existing: dict | None) -> dict:
        spec = app.get("spec") or {}
        run_strategy = shape.run_strategy
        metadata = self._helm_metadata(app, shape.vm_name, {"kubevirt.io/domain": shape.vm_name})
        metadata["annotations"]["kubevirt.io/latest-observed-api-version"] = "v1"
        vm = {
            "metadata": metadata,
            "spec": {
                "runStrategy": run_strategy,
                "instancetype": {"kind": "VirtualMachineClusterInstancetype", "name": shape.instance_type},
                "preference": {"kind": "VirtualMachineClusterPreference", "name": shape.instance_profile},
                "dataVolumeTemplates": [],
                "template": {
                    "metadata": {"labels": {"kubevirt.io/domain": shape.vm_name,
                                            "app.kubernetes.io/instance": shape.vm_name}},
                    "spec": {
                        "domain": {"devices": {
                            "gpus": [{"name": f"gpu{index}", "deviceName": resource}
                                     for index, resource in enumerate(
                                         r for r, count in sorted(shape.gpus.items()) for _ in range(count))],
                            "disks": [{"name": volume, "disk": {"bus": "virtio"}} for volume in shape.disk_volumes],
                        }},
                        "volumes": [{"name": volume, "dataVolume": {"name": volume}}
                                    for volume in shape.disk_volumes]
                        + [{"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": spec.get("cloudInit", "")}}],
                    },
                },
            },
            # The status pass later in the same reconcile fills in a new VM's status.
            "status": (existing or {}).get("status", {}),
        }
        if existing is not None and existing["spec"].get("runStrategy") != run_strategy:
            self.instances[app["metadata"]["uid"]].manual_running = False
        return self.store.put(KUBEVIRT_VM, vm)

    def _render_service(self, app: dict, shape: InstanceShape) -> None:
        existing = self.store.find(SERVICE, shape.namespace, shape.vm_name)
        if not shape.external:
            if existing is not None:
                self.store.remove(SERVICE, shape.namespace, shape.vm_name)
            return
        ip_octet = 10 + zlib.crc32(f"{shape.namespace}/{shape.name}".encode()) % 240
        ports = [] if shape.external_method == "WholeIP" else [
            {"name": f"port-{port}", "port": port, "targetPort": port, "protocol": "TCP"}
            for port in shape.external_ports if isinstance(port, int)]
        service = {
            "metadata": self._helm_metadata(app, shape.vm_name),
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                     "selector": {"kubevirt.io/domain": shape.vm_name}, "ports": ports,
                     "clusterIP": f"10.96.{ip_octet}.{ip_octet}"},
            "status": {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{ip_octet}"}]}},
        }
        self.store.put(SERVICE, service)

    def _reconcile_legacy_system_disk(self, app: dict, now: float) -> None:
        system_disk = (app.get("spec") or {}).get("systemDisk") or {}
        state = self.disks.setdefault(app["metadata"]["uid"], DiskPhase(helm_since=now, since=now))
        self._advance_data_volume(app, state, now, f"virtual-machine-{app['metadata']['name']}",
                                  {"image": {"name": system_disk.get("image", "ubuntu")}},
                                  system_disk.get("storage", "5Gi"), system_disk.get("storageClass", "replicated"))

    def _wants_running(self, vm: dict, state: InstancePhase) -> bool:
        strategy = vm["spec"].get("runStrategy", "Always")
        return state.manual_running if strategy == "Manual" else strategy in RUNNING_STRATEGIES

    def _move(self, state: InstancePhase, phase: str, now: float) -> None:
        state.phase, state.since, state.transition_time = phase, now, timestamp()

    def _advance_vm(self, app: dict, shape: InstanceShape, vm: dict, state: InstancePhase, now: float) -> None:
        elapsed = now - state.since
        wants_running = self._wants_running(vm, state) and not state.restart_requested
        if state.restart_requested and state.phase in ("Starting", "Running"):
            self._move(state, "Stopping", now)
            self._event(vm, "SuccessfulDelete", "Stopped the virtual machine by deleting the virtual machine "
                        "instance for a restart", component="virtualmachine-controller")
        elif not wants_running:
            if state.phase in ("Starting", "Running"):
                self._move(state, "Stopping", now)
                self._event(vm, "SuccessfulDelete", "Stopped the virtual machine by deleting the virtual machine "
                            "instance", component="virtualmachine-controller")
            elif state.phase in ("Provisioning", "ErrorUnschedulable") or (
                    state.phase == "Stopping" and elapsed >= self.durations["stop"]):
                self._power_off(shape, state, now)
        elif state.phase in ("Stopped", "Provisioning"):
            if self._disks_ready(shape):
                self._schedule(app, shape, vm, state, now)
            elif state.phase != "Provisioning":
                self._move(state, "Provisioning", now)
        elif state.phase == "ErrorUnschedulable":
            self._schedule(app, shape, vm, state, now)
        elif state.phase == "Starting" and elapsed >= self.durations["boot"]:
            self._move(state, "Running", now)
            state.started_at = time.time()
            self._event({**vm, "kind": "VirtualMachineInstance"}, "Started", "VirtualMachineInstance started.",
                        component="virt-handler")
        self._write_vm_status(shape, state)

    def _power_off(self, shape: InstanceShape, state: InstancePhase, now: float) -> None:
        self.inventory.release(self._holder(shape))
        if state.pod_name:
            self.store.remove(POD, shape.namespace, state.pod_name)
        state.pod_name = ""
        state.restart_requested = False
        self._move(state, "Stopped", now)

    def _disks_ready(self, shape: InstanceShape) -> bool:
        for volume in shape.disk_volumes:
            data_volume = self.store.find(DATA_VOLUME, shape.namespace, volume)
            if data_volume is None or data_volume.get("status", {}).get("phase") != "Succeeded":
                return False
        return True

    @staticmethod
    def _holder(shape: InstanceShape) -> str:
        return f"{shape.namespace}/{shape.vm_name}"

    def _schedule(self, app: dict, shape: InstanceShape, vm: dict, state: InstancePhase, now: float) -> None:
        if not state.pod_name:
            state.pod_name = f"virt-launcher-{shape.vm_name}-{secrets.token_hex(3)[:5]}"
            self._event(vm, "SuccessfulCreate", f"Started the virtual machine by creating the new virtual machine "
                        f"instance {shape.vm_name}", component="virtualmachine-controller")
        short = self.inventory.allocate(self._holder(shape), shape.gpus)
        pod = self._pod(app, shape, state, scheduled=not short)
        if short:
            message = (f"0/{NODE_COUNT} nodes are available: "
                       + ", ".join(f"{NODE_COUNT} Insufficient {resource}" for resource in short)
                       + f". preemption: 0/{NODE_COUNT} nodes are available: {NODE_COUNT} No preemption victims "
                       "found for incoming pod.")
            pod["status"]["conditions"][0]["message"] = message
            stored = self.store.put(POD, pod)
            if state.phase != "ErrorUnschedulable":
                self._move(state, "ErrorUnschedulable", now)
                self._event(stored, "FailedScheduling", message, warning=True, component="default-scheduler")
            return
        stored = self.store.put(POD, pod)
        self._event(stored, "Scheduled", f"Successfully assigned {shape.namespace}/{state.pod_name} to "
                    f"{pod['spec']['nodeName']}", component="default-scheduler")
        self._move(state, "Starting", now)

    def _pod(self, app: dict, shape: InstanceShape, state: InstancePhase, *, scheduled: bool) -> dict:
        labels = dict(app["metadata"].get("labels") or {})
        labels.update({"kubevirt.io": "virt-launcher", "kubevirt.io/domain": shape.vm_name,
                       "vm.kubevirt.io/name": shape.vm_name, "app.kubernetes.io/instance": shape.vm_name})
        node = f"node-{zlib.crc32(shape.vm_name.encode()) % NODE_COUNT + 1}"
        return {
            "metadata": {
                "name": state.pod_name, "namespace": shape.namespace, "labels": labels,
                "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                                     "name": shape.vm_name, "uid": app["metadata"]["uid"], "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": {
                "nodeName": node if scheduled else None,
                "containers": [{"name": "compute", "image": "quay.io/kubevirt/virt-launcher:v1.8.4",
                                "resources": {"limits": {resource: str(count)
                                                         for resource, count in shape.gpus.items()}}}],
            },
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True" if scheduled else "False",
                                "reason": None if scheduled else "Unschedulable",
                                "lastTransitionTime": timestamp()}],
            },
        }

    def _write_vm_status(self, shape: InstanceShape, state: InstancePhase) -> None:
        current = self.store.find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if current is None:
            return
        running = state.phase == "Running"
        ready_reason = {"Running": "", "Starting": "PodNotReady", "ErrorUnschedulable": "Unschedulable"}.get(
            state.phase, "VMINotExists")
        conditions = [condition("Ready", "True" if running else "False", ready_reason,
                                "" if running else f"VMI is {state.phase.lower()}", state.transition_time)]
        if state.phase == "ErrorUnschedulable":
            pod = self.store.find(POD, shape.namespace, state.pod_name) or {}
            message = (pod.get("status", {}).get("conditions") or [{}])[0].get("message", "")
            conditions.append(condition("PodScheduled", "False", "Unschedulable", message, state.transition_time))
        current["status"] = {
            "printableStatus": state.phase,
            "ready": running,
            "created": state.phase in ("Starting", "Running", "Stopping", "ErrorUnschedulable"),
            "runStrategy": current["spec"].get("runStrategy"),
            "conditions": conditions,
            "desiredGeneration": current["metadata"].get("generation", 1),
        }
        if state.pod_name and state.phase in ("Starting", "Running"):
            pod = self.store.find(POD, shape.namespace, state.pod_name)
            if pod is not None:
                pod["status"]["phase"] = "Running"
                pod["status"]["podIP"] = f"10.244.{zlib.crc32(state.pod_name.encode()) % 250}.{10 + len(shape.name)}"
                pod["status"]["conditions"] = [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": state.transition_time},
                    {"type": "Ready", "status": "True" if running else "False",
                     "lastTransitionTime": state.transition_time},
                ]
                self.store.put(POD, pod)
        self.store.put(KUBEVIRT_VM, current)

    def _terminate(self, kind: Kind, app: dict, shape: InstanceShape, state: InstancePhase, now: float) -> None:
        vm = self.store.find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if state.phase != "Terminating":
            self._move(state, "Terminating", now)
            if vm is not None:
                vm["metadata"]["deletionTimestamp"] = timestamp()
                vm["metadata"]["finalizers"] = ["kubevirt.io/virtualMachineControllerFinalize"]
                vm["status"] = {**vm.get("status", {}), "printableStatus": "Terminating", "ready": False}
                self.store.put(KUBEVIRT_VM, vm)
                self._event(vm, "SuccessfulDelete", "Deleting the virtual machine",
                            component="virtualmachine-controller")
            return
        if now - state.since < self.durations["terminate"]:
            return
        self._power_off(shape, state, now)
        self.store.remove(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        self.store.remove(SERVICE, shape.namespace, shape.vm_name)
        if kind is LEGACY_VIRTUAL_MACHINE:
            self.store.remove(DATA_VOLUME, shape.namespace, shape.vm_name)
            self.disks.pop(app["metadata"]["uid"], None)
        self.instances.pop(app["metadata"]["uid"], None)
        self._release_finalizer(kind, app)

    # -- garbage collection, events, exporters --------------------------------------------------

    def _collect_orphans(self, disks: list[dict], apps: list[dict]) -> None:
        """Removes what a vanished apps object rendered (it was deleted before it got a finalizer)."""
        releases = {(d["metadata"]["namespace"], f"vm-disk-{d['metadata']['name']}") for d in disks}
        for app in apps:
            prefix = "vm-instance-" if app["kind"] == "VMInstance" else "virtual-machine-"
            releases.add((app["metadata"]["namespace"], prefix + app["metadata"]["name"]))
        for kind in (KUBEVIRT_VM, DATA_VOLUME, SERVICE, POD):
            for obj in self.store.list(kind)[0]:
                namespace = obj["metadata"]["namespace"]
                release = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/instance")
                if (namespace, release) not in releases:
                    self.store.remove(kind, namespace, obj["metadata"]["name"])
                    self.inventory.release(f"{namespace}/{release}")
        live_uids = {app["metadata"]["uid"] for app in apps} | {d["metadata"]["uid"] for d in disks}
        for uid in set(self.instances) - live_uids:
            del self.instances[uid]
        for uid in set(self.disks) - live_uids:
            del self.disks[uid]

    def _event(self, involved: dict, reason: str, message: str, *, warning: bool = False,
               component: str) -> None:
        metadata = involved["metadata"]
        key = (metadata.get("uid"), involved.get("kind"), reason, message)
        now = timestamp()
        existing_name = self.event_names.get(key)
        existing = self.store.find(EVENT, metadata["namespace"], existing_name) if existing_name else None
        if existing is not None:
            existing["count"] = existing.get("count", 1) + 1
            existing["lastTimestamp"] = now
            self.store.put(EVENT, existing)
            return
        name = f"{metadata['name']}.{secrets.token_hex(8)}"
        self.event_names[key] = name
        self.store.put(EVENT, {
            "metadata": {"name": name, "namespace": metadata["namespace"]},
            "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                               "name": metadata["name"], "namespace": metadata["namespace"],
                               "uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion")},
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        })

    def _publish_guests(self, apps: list[dict]) -> None:
        guests = []
        for app in apps:
            state = self.instances.get(app["metadata"]["uid"])
            kind = VM_INSTANCE if app["kind"] == "VMInstance" else LEGACY_VIRTUAL_MACHINE
            if state is None or state.phase != "Running":
                continue
            shape = self._shape(kind, app)
            allocation = self.inventory.allocations.get(self._holder(shape), {})
            resources = tuple(r for r, count in sorted(allocation.items()) for _ in range(count))
            if not resources:
                continue
            annotations = app["metadata"].get("annotations") or {}
            profile = annotations.get(WORKLOAD_ANNOTATION)
            if profile not in WORKLOAD_PROFILES:
                profile = WORKLOAD_PROFILES[zlib.crc32(shape.name.encode()) % len(WORKLOAD_PROFILES)]
            guests.append(GpuGuest(shape.namespace, shape.name, shape.vm_name, app["metadata"]["uid"], resources,
                                   state.started_at, profile))
        guests_tuple = tuple(guests)
        if guests_tuple != self.guests:
            self.guests = guests_tuple
            self.on_guests_changed(guests_tuple)

    def snapshot(self) -> dict:
        with self.store.condition:
            return {
                "paused": self.paused,
                "time_scale": self.time_scale,
                "gpus": self.inventory.snapshot(),
                "allocations": dict(self.inventory.allocations),
                "instances": {uid: state.phase for uid, state in self.instances.items()},
                "guests": [{"namespace": g.namespace, "vm": g.vm, "gpus": list(g.gpu_resources),
                            "profile": g.profile} for g in self.guests],
            }
