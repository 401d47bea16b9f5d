"""The simulated Cozystack charts, CDI, KubeVirt, scheduler, load balancer and kubelets.

It works through a port (`devcluster.ports`): the development cluster's own store, or any API
server through the official client. What it writes is what a real API server accepts: children
carry exactly the upstream chart labels (`../shared/reference/cozystack/children.md`, copied in
tests/devcluster/children.md), never the app's own; status goes through the status subresource;
pending pods are bound through the binding subresource and pods are deleted with no grace period
(no kubelet runs); events are v1 Events.

One background thread reconciles every apps object on each tick, level-triggered like the real
controllers: it renders the chart (or fails the way Helm does, until Flux's retry succeeds),
imports disks, schedules VMs on a finite GPU inventory, and moves each KubeVirt VM through the
phases `kubectl get vm` shows. It also registers the nodes (with their GPUs) and writes each
tenant namespace's `tenant-quota`, as Cozystack's tenant app does.

Deletion: apps objects carry a finalizer, so a deleted VMInstance stays with a deletionTimestamp
while its KubeVirt VM is Terminating, then vanishes with everything it rendered. A VMDisk
deleted while an instance still lists it stays Terminating until that instance is gone, as the
PVC protection finalizer keeps a disk a running VM uses.
"""

import copy
import logging
import secrets
import threading
import time
import zlib
from dataclasses import dataclass

from devcluster import catalogue
from devcluster.errors import ApiError
from devcluster.faults import Faults
from devcluster.kinds import (
    DATA_VOLUME,
    EVENT,
    KUBEVIRT_VM,
    LEGACY_VIRTUAL_MACHINE,
    NAMESPACE,
    NODE,
    POD,
    RESOURCE_QUOTA,
    SERVICE,
    VM_DISK,
    VM_INSTANCE,
    Kind,
)
from devcluster.store import timestamp

log = logging.getLogger(__name__)

FINALIZER = "finalizers.fluxcd.io"
KUBEVIRT_FINALIZER = "kubevirt.io/virtualMachineControllerFinalize"
WORKLOAD_ANNOTATION = "devcluster.hikube.cloud/workload"
WORKLOAD_PROFILES = ("training", "inference", "idle")
NODE_COUNT = 3
CHART_VERSION = "0.1.0"
APP_VERSION = "1.0.0"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
USER_SERVICE_LABEL = "apps.cozystack.io/user-service"
OPTICAL_ANNOTATION = "vm-disk.cozystack.io/optical"
TENANT_QUOTA = "tenant-quota"
TENANT_PREFIX = "tenant-"
DEFAULT_QUOTA_SHARE = 2
RUNNING_STRATEGIES = {"Always", "RerunOnFailure", "Once"}
# Chart name and release prefix of each apps kind.
CHARTS = {
    "VMDisk": ("vm-disk", "vm-disk-"),
    "VMInstance": ("vm-instance", "vm-instance-"),
    "VirtualMachine": ("virtual-machine", "virtual-machine-"),
}
KINDS_BY_APP = {"VMDisk": VM_DISK, "VMInstance": VM_INSTANCE, "VirtualMachine": LEGACY_VIRTUAL_MACHINE}

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
WATCHED_KINDS = (NAMESPACE, VM_DISK, VM_INSTANCE, LEGACY_VIRTUAL_MACHINE, KUBEVIRT_VM, DATA_VOLUME, SERVICE, POD)


@dataclass
class InstanceShape:
    """What the controller needs from a VMInstance or a legacy VirtualMachine."""

    kind: Kind
    name: str
    namespace: str
    vm_name: str
    disk_volumes: list[str]
    missing_volumes: list[str]
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
    pod_refusal: str = ""
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
        if holder in self.allocations:
            return []
        short = [resource for resource, count in sorted(request.items()) if self.free(resource) < count]
        if not short:
            self.allocations[holder] = dict(request)
        return short

    def release(self, holder: str) -> None:
        self.allocations.pop(holder, None)

    def snapshot(self) -> dict:
        return {
            resource: {"capacity": capacity, "free": self.free(resource)}
            for resource, capacity in sorted(self.capacity.items())
        }


def gpu_request(gpus) -> dict[str, int]:
    request: dict[str, int] = {}
    for gpu in gpus or []:
        name = gpu.get("name") if isinstance(gpu, dict) else None
        if name:
            request[name] = request.get(name, 0) + 1
    return request


def node_gpus(capacity: dict[str, int], index: int) -> dict[str, int]:
    """Node `index`'s share of the inventory: each model spread evenly, the first nodes taking the rest."""
    return {
        resource: count // NODE_COUNT + (1 if index < count % NODE_COUNT else 0)
        for resource, count in sorted(capacity.items())
    }


def chart_labels(chart: str, release: str) -> dict[str, str]:
    """The labels Cozystack's VM charts put on the KubeVirt VM, its pod template and its Service."""
    return {
        "helm.sh/chart": f"{chart}-{CHART_VERSION}",
        "app.kubernetes.io/name": chart,
        INSTANCE_LABEL: release,
        "app.kubernetes.io/version": APP_VERSION,
        MANAGED_BY_LABEL: "Helm",
    }


def condition(condition_type, status, reason, message, transition_time):
    return {
        "type": condition_type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition_time,
    }


def merged(current, desired):
    """`desired` laid over `current`: what the server added (defaults, allocated ports) stays,
    lists of the same length merge item by item, anything else `desired` says wins."""
    if isinstance(current, dict) and isinstance(desired, dict):
        result = copy.deepcopy(current)
        for key, value in desired.items():
            result[key] = merged(current.get(key), value)
        return result
    if isinstance(current, list) and isinstance(desired, list) and len(current) == len(desired):
        return [merged(old, new) for old, new in zip(current, desired, strict=True)]
    return copy.deepcopy(desired)


class Controller:
    def __init__(
        self,
        port,
        gpu_capacity: dict[str, int],
        *,
        time_scale: float,
        faults: Faults | None = None,
        tenant_quotas: dict[str, dict[str, int]] | None = None,
        on_guests_changed=None,
    ):
        self.port = port
        self.time_scale = time_scale
        self.durations = {step: seconds * time_scale for step, seconds in REALISTIC_DURATIONS.items()}
        self.tick_seconds = max(port.min_tick_seconds, 0.25 * time_scale)
        self.gpu_capacity = dict(gpu_capacity)
        self.faults = faults or Faults()
        self.initial_tenant_quotas = {namespace: dict(hard) for namespace, hard in (tenant_quotas or {}).items()}
        self.on_guests_changed = on_guests_changed or (lambda guests: None)
        self.paused = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devcluster-controller", daemon=True)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.inventory = GpuInventory(self.gpu_capacity)
            self.tenant_quotas = copy.deepcopy(self.initial_tenant_quotas)
            self.instances: dict[str, InstancePhase] = {}
            self.disks: dict[str, DiskPhase] = {}
            self.events: dict[tuple, dict] = {}
            self.view: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
            self.next_infrastructure = 0.0
            self.guests: tuple[GpuGuest, ...] = ()
            self.on_guests_changed(self.guests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def set_paused(self, paused: bool) -> None:
        # Under the pass's lock: once this returns, no reconcile pass is running or will start.
        with self.port.exclusive(), self._lock:
            self.paused = paused

    def set_tenant_quota(self, namespace: str, hard: dict[str, int]) -> None:
        """Hard limits (resource name → GPUs) of one namespace's tenant-quota, applied on the next pass."""
        with self._lock:
            self.tenant_quotas.setdefault(namespace, {}).update(hard)
            self.next_infrastructure = 0.0

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.tick_seconds):
            try:
                self.reconcile()
            except ApiError as exc:
                # Said once per outage, not ten times a second while an API server restarts.
                if not failing:
                    log.warning("reconcile passes fail: %s %s", exc.code, exc.message)
                failing = True
                continue
            except Exception:
                log.exception("reconcile pass failed")
                continue
            if failing:
                log.warning("reconcile passes succeed again")
            failing = False

    # -- the view of the cluster and the writes that keep it current ----------------------------

    def _load(self, kinds) -> None:
        for kind in kinds:
            self.view[kind.key] = {
                (obj["metadata"].get("namespace") or "", obj["metadata"]["name"]): obj for obj in self.port.list(kind)
            }

    def _all(self, kind: Kind) -> list[dict]:
        return list(self.view.get(kind.key, {}).values())

    def _find(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        return self.view.get(kind.key, {}).get((namespace or "", name))

    def _remember(self, kind: Kind, obj: dict) -> dict:
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        self.view.setdefault(kind.key, {})[(obj["metadata"].get("namespace") or "", obj["metadata"]["name"])] = obj
        return obj

    def _apply(self, kind: Kind, desired: dict) -> dict:
        """Creates the object, or brings the fields `desired` names to its values (labels,
        annotations, owners and finalizers exactly); writes only when something differs."""
        metadata = desired["metadata"]
        current = self._find(kind, metadata.get("namespace"), metadata["name"])
        if current is None:
            body = {key: value for key, value in desired.items() if key != "status"}
            return self._remember(
                kind, self.port.create(kind, {"apiVersion": kind.api_version, "kind": kind.kind, **copy.deepcopy(body)})
            )
        updated = copy.deepcopy(current)
        for key in ("labels", "annotations", "ownerReferences", "finalizers"):
            if key in metadata:
                updated["metadata"][key] = copy.deepcopy(metadata[key])
        for key, value in desired.items():
            if key not in ("metadata", "status", "apiVersion", "kind"):
                updated[key] = merged(current.get(key), value)
        if updated == current:
            return current
        return self._remember(kind, self.port.replace(kind, updated))

    def _write_status(self, kind: Kind, obj: dict, status: dict, *, exactly: tuple[str, ...] = ()) -> dict:
        """Brings the status fields `status` names to its values (those in `exactly` wholly, without
        what an earlier writer put there); writes only when something differs."""
        current = self._find(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"]) or obj
        updated = merged(current.get("status") or {}, status)
        updated.update({key: copy.deepcopy(status[key]) for key in exactly})
        if updated == current.get("status"):
            return current
        return self._remember(kind, self.port.replace_status(kind, {**current, "status": updated}))

    def _set_finalizers(self, kind: Kind, obj: dict, finalizers: list[str]) -> dict | None:
        current = self._find(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"]) or obj
        if (current["metadata"].get("finalizers") or []) == finalizers:
            return current
        updated = copy.deepcopy(current)
        updated["metadata"]["finalizers"] = finalizers
        stored = self.port.replace(kind, updated)
        if current["metadata"].get("deletionTimestamp") and not finalizers:
            self._forget(kind, current)
            return None
        return self._remember(kind, stored)

    def _delete(self, kind: Kind, namespace: str, name: str) -> None:
        current = self._find(kind, namespace, name)
        if current is None:
            return
        result = self.port.delete(kind, namespace, name)
        if result and result.get("metadata", {}).get("finalizers"):
            self._remember(kind, result)
        else:
            self._forget(kind, current)

    def _forget(self, kind: Kind, obj: dict) -> None:
        self.view.get(kind.key, {}).pop((obj["metadata"].get("namespace") or "", obj["metadata"]["name"]), None)

    def _guarded(self, what: str, function, *args) -> None:
        """One object's failure (a conflict with a client's write, a refusal) waits for the next pass."""
        try:
            function(*args)
        except ApiError as exc:
            level = logging.DEBUG if exc.code in (404, 409) else logging.WARNING
            log.log(level, "%s: %s %s", what, exc.code, exc.message)

    # -- subresources (start/stop/restart), called by the API layer ----------------------------

    def request_power_change(self, namespace: str, vm_name: str, action: str) -> str | None:
        """Applies start/stop/restart to a KubeVirt VM; returns an error message for a 409, if any."""
        with self.port.exclusive(), self._lock:
            vm = self.port.get(KUBEVIRT_VM, namespace, vm_name)
            if vm is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'virtualmachines.kubevirt.io "{vm_name}" not found',
                    {"name": vm_name, "group": KUBEVIRT_VM.group, "kind": KUBEVIRT_VM.plural},
                )
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
            self._remember(KUBEVIRT_VM, self.port.replace(KUBEVIRT_VM, vm))
            return None

    def _instance_owner(self, namespace: str, vm: dict) -> dict | None:
        name = vm["metadata"]["name"]
        for kind in (VM_INSTANCE, LEGACY_VIRTUAL_MACHINE):
            prefix = CHARTS[kind.kind][1]
            if name.startswith(prefix):
                owner = self.port.get(kind, namespace, name[len(prefix) :])
                if owner is not None:
                    return owner
        return None

    # -- the reconcile pass ------------------------------------------------------------------

    def reconcile(self) -> None:
        with self.port.exclusive(), self._lock:
            self.port.housekeeping()
            if self.paused:
                return
            now = time.monotonic()
            self._load(WATCHED_KINDS)
            if now >= self.next_infrastructure:
                self.reconcile_infrastructure()
                self.next_infrastructure = now + self.port.infrastructure_seconds
            disks, instances = self._all(VM_DISK), self._all(VM_INSTANCE)
            apps = instances + self._all(LEGACY_VIRTUAL_MACHINE)
            for disk in disks:
                self._guarded(
                    f"VMDisk {disk['metadata']['namespace']}/{disk['metadata']['name']}",
                    self._reconcile_disk,
                    disk,
                    instances,
                    now,
                )
            # The scheduler serves waiting VMs oldest first.
            for app in sorted(apps, key=lambda app: (app["metadata"]["creationTimestamp"], app["metadata"]["name"])):
                self._guarded(
                    f"{app['kind']} {app['metadata']['namespace']}/{app['metadata']['name']}",
                    self._reconcile_instance,
                    KINDS_BY_APP[app["kind"]],
                    app,
                    now,
                )
            self._guarded("collecting orphans", self._collect_orphans, disks, apps)
            self._publish_guests(apps)

    # -- nodes and tenant quotas ----------------------------------------------------------------

    def reconcile_infrastructure(self) -> None:
        """Registers the nodes with their GPUs (as kubelets do) and writes each tenant namespace's
        tenant-quota (as Cozystack's tenant app does). The quota's status.used is the quota
        controller's business: the development cluster's own server, or kube-controller-manager."""
        with self.port.exclusive(), self._lock:
            self._load((NODE, RESOURCE_QUOTA, NAMESPACE))
            for index in range(NODE_COUNT):
                self._guarded(f"node {index + 1}", self._ensure_node, index)
            for namespace in self._all(NAMESPACE):
                name = namespace["metadata"]["name"]
                hard = self._quota_hard(name)
                if hard is not None and not namespace["metadata"].get("deletionTimestamp"):
                    self._guarded(
                        f"tenant-quota of {name}",
                        self._apply,
                        RESOURCE_QUOTA,
                        {"metadata": {"name": TENANT_QUOTA, "namespace": name}, "spec": {"hard": hard}},
                    )

    def _ensure_node(self, index: int) -> None:
        name = f"node-{index + 1}"
        node = self._apply(
            NODE,
            {
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                }
            },
        )
        resources = {
            "cpu": "64",
            "memory": "512Gi",
            "pods": "110",
            **{resource: str(count) for resource, count in node_gpus(self.gpu_capacity, index).items()},
        }
        ready = self._find(NODE, "", name) or node
        ready_condition = next(
            (c for c in (ready.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
        )
        transition = ready_condition.get("lastTransitionTime") or timestamp()
        self._write_status(
            NODE,
            node,
            {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": transition,
                        "lastTransitionTime": transition,
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": f"192.0.2.{index + 1}"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.32.0",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "containerRuntimeVersion": "containerd://1.7.0",
                    "osImage": "Talos",
                    "kernelVersion": "6.6.0",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            },
            exactly=("capacity", "allocatable"),
        )

    def _quota_hard(self, namespace: str) -> dict[str, str] | None:
        """GPU limits of the namespace's tenant-quota, None for a namespace that is no tenant's.
        By default twice the inventory, so that a team alone on the cluster runs out of GPUs
        (ErrorUnschedulable) before it runs out of quota (a pod refused at admission);
        --tenant-quota sets the limits that bind."""
        limits = self.tenant_quotas.get(namespace)
        if limits is None and not namespace.startswith(TENANT_PREFIX):
            return None
        default = {resource: DEFAULT_QUOTA_SHARE * count for resource, count in self.gpu_capacity.items()}
        return {f"requests.{resource}": str(count) for resource, count in sorted({**default, **(limits or {})}.items())}

    # -- Helm ---------------------------------------------------------------------------------

    def _helm_status(self, app: dict, state, now: float, error: str | None, release: str) -> bool:
        """Sets the app's Ready/Released conditions like the HelmRelease; True once rendered."""
        generation = app["metadata"].get("generation", 1)
        if state.helm_generation != generation:
            state.helm_generation, state.helm_since = generation, now
        namespace = app["metadata"]["namespace"]
        upgrade = generation > 1
        action = "upgrade" if upgrade else "install"
        chart_name = CHARTS[app["kind"]][0]
        chart = f"{chart_name}@{CHART_VERSION}"
        previous = (app.get("status") or {}).get("conditions") or []
        previous_ready = next((c for c in previous if c["type"] == "Ready"), {})
        if now - state.helm_since < self.durations["helm"]:
            if previous_ready.get("observedGeneration") == generation:
                return previous_ready.get("status") == "True"
            status, reason, message = "Unknown", "Progressing", f"Running '{action}' action with timeout of 5m0s"
        elif error:
            status, reason = "False", "UpgradeFailed" if upgrade else "InstallFailed"
            message = (
                f"Helm {action} failed for release {namespace}/{release} with chart {chart}: "
                f"execution error at ({chart_name}/templates/vm.yaml:1:4): {error}"
            )
        else:
            status, reason = "True", "UpgradeSucceeded" if upgrade else "InstallSucceeded"
            message = f"Helm {action} succeeded for release {namespace}/{release}.v{generation} with chart {chart}"
        transition = previous_ready.get("lastTransitionTime") if previous_ready.get("reason") == reason else timestamp()
        ready = condition("Ready", status, reason, message, transition)
        ready["observedGeneration"] = generation
        released = condition("Released", status, reason, message, transition)
        released["observedGeneration"] = generation
        if previous_ready.get("reason") != reason or previous_ready.get("message") != message:
            self._event(app, reason, message, warning=status == "False", component="helm-controller")
        self._write_status(
            KINDS_BY_APP[app["kind"]],
            app,
            {
                "conditions": [ready, released],
                "version": CHART_VERSION,
                "observedGeneration": generation if status != "Unknown" else generation - 1,
            },
        )
        return status == "True"

    def _ensure_finalizer(self, kind: Kind, app: dict) -> dict:
        finalizers = app["metadata"].get("finalizers") or []
        if FINALIZER in finalizers:
            return app
        return self._set_finalizers(kind, app, [*finalizers, FINALIZER])

    def _release_finalizer(self, kind: Kind, app: dict) -> None:
        self._set_finalizers(kind, app, [f for f in app["metadata"].get("finalizers") or [] if f != FINALIZER])

    # -- disks --------------------------------------------------------------------------------

    def _reconcile_disk(self, disk: dict, instances: list[dict], now: float) -> None:
        uid, name, namespace = disk["metadata"]["uid"], disk["metadata"]["name"], disk["metadata"]["namespace"]
        state = self.disks.setdefault(uid, DiskPhase(helm_since=now, since=now))
        release = f"vm-disk-{name}"
        if disk["metadata"].get("deletionTimestamp"):
            in_use = any(
                name in [d.get("name") for d in (i.get("spec") or {}).get("disks") or [] if isinstance(d, dict)]
                for i in instances
                if i["metadata"]["namespace"] == namespace
            )
            if not in_use:
                self._delete(DATA_VOLUME, namespace, release)
                self._release_finalizer(VM_DISK, disk)
                self.disks.pop(uid, None)
            return
        disk = self._ensure_finalizer(VM_DISK, disk)
        if not self._helm_status(disk, state, now, None, release):
            return
        spec = disk.get("spec") or {}
        metadata = {
            "name": release,
            "namespace": namespace,
            "labels": {INSTANCE_LABEL: release},
            "annotations": {OPTICAL_ANNOTATION: "true" if spec.get("optical") else "false"},
        }
        self._advance_data_volume(
            state,
            now,
            metadata,
            spec.get("source") or {},
            spec.get("storage", "5Gi"),
            spec.get("storageClass", "replicated"),
        )

    def _advance_data_volume(
        self, state: DiskPhase, now: float, metadata: dict, source: dict, storage, storage_class: str
    ) -> None:
        name, namespace = metadata["name"], metadata["namespace"]
        if "upload" in source:
            steps = ("Pending", "UploadScheduled", "UploadReady")
        elif "disk" in source:
            steps = ("Pending", "CloneScheduled", "CloneInProgress", "Succeeded")
        else:
            steps = ("Pending", "ImportScheduled", "ImportInProgress", "Succeeded")
        scheduled, transfer = self.durations["import_scheduled"], self.durations["import"]
        step_durations = {
            "Pending": self.durations["scheduling"],
            "ImportScheduled": scheduled,
            "CloneScheduled": scheduled,
            "UploadScheduled": scheduled,
            "ImportInProgress": transfer,
            "CloneInProgress": transfer,
        }
        existing = self._find(DATA_VOLUME, namespace, name)
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
        existing_status = (existing or {}).get("status") or {}
        previous_phase = existing_status.get("phase")
        transition = (
            existing_status["conditions"][0]["lastTransitionTime"] if previous_phase == state.phase else timestamp()
        )
        data_volume = self._apply(
            DATA_VOLUME,
            {
                "metadata": metadata,
                "spec": {
                    "source": self._data_volume_source(source, namespace),
                    "storage": {"resources": {"requests": {"storage": storage}}, "storageClassName": storage_class},
                },
            },
        )
        bound = state.phase != "Pending"
        stored = self._write_status(
            DATA_VOLUME,
            data_volume,
            {
                "phase": state.phase,
                "progress": progress,
                "claimName": name,
                "conditions": [
                    condition(
                        "Bound",
                        "True" if bound else "False",
                        "Bound" if bound else "Pending",
                        f"PVC {name} Bound" if bound else f"PVC {name} Pending",
                        transition,
                    ),
                    condition(
                        "Ready",
                        "True" if succeeded else "False",
                        "Completed" if succeeded else "TransferRunning",
                        "",
                        transition,
                    ),
                    condition(
                        "Running",
                        "True" if state.phase.endswith("InProgress") else "False",
                        "Pod is running" if state.phase.endswith("InProgress") else "Completed",
                        "",
                        transition,
                    ),
                ],
            },
        )
        if previous_phase != state.phase:
            messages = {
                "Pending": f"PVC {name} Pending",
                "ImportScheduled": f"Import into {name} scheduled",
                "ImportInProgress": f"Import into {name} in progress",
                "CloneScheduled": f"Cloning into {name} scheduled",
                "CloneInProgress": f"Cloning into {name} in progress",
                "UploadScheduled": f"Upload into {name} scheduled",
                "UploadReady": f"Upload into {name} ready",
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
            volumes = [f"vm-disk-{d.get('name')}" for d in spec.get("disks") or [] if isinstance(d, dict)]
            # The chart looks each disk's DataVolume up when it renders.
            missing = [volume for volume in volumes if self._find(DATA_VOLUME, namespace, volume) is None]
            vm_name = f"vm-instance-{name}"
            run_strategy = spec.get("runStrategy", "Always")
        else:
            missing, vm_name = [], f"virtual-machine-{name}"
            volumes = [vm_name]
            run_strategy = spec.get("runStrategy") or ("Always" if spec.get("running", True) else "Halted")
        return InstanceShape(
            kind=kind,
            name=name,
            namespace=namespace,
            vm_name=vm_name,
            disk_volumes=volumes,
            missing_volumes=missing,
            gpus=gpu_request(spec.get("gpus")),
            run_strategy=run_strategy,
            instance_type=spec.get("instanceType", "u1.medium"),
            instance_profile=spec.get("instanceProfile", "ubuntu"),
            external=bool(spec.get("external")),
            external_ports=spec.get("externalPorts", [22]),
            external_method=spec.get("externalMethod", "PortList"),
        )

    @staticmethod
    def _render_error(shape: InstanceShape) -> str | None:
        """The `fail` of the chart's lookups, in upstream words (children.md)."""
        if shape.instance_type and shape.instance_type not in catalogue.INSTANCE_TYPES:
            if shape.kind is LEGACY_VIRTUAL_MACHINE:
                return f"Specified instancetype not exists in cluster: {shape.instance_type}"
            return f"Specified instanceType does not exist in the cluster: {shape.instance_type}"
        if shape.instance_profile and shape.instance_profile not in catalogue.INSTANCE_PROFILES:
            return f"Specified profile not exists in cluster: {shape.instance_profile}"
        if shape.missing_volumes:
            return f"Specified disk not exists in cluster: {shape.missing_volumes[0]}"
        return None

    def _reconcile_instance(self, kind: Kind, app: dict, now: float) -> None:
        uid = app["metadata"]["uid"]
        state = self.instances.setdefault(uid, InstancePhase(since=now, transition_time=timestamp(), helm_since=now))
        shape = self._shape(kind, app)
        if app["metadata"].get("deletionTimestamp"):
            self._terminate(kind, app, shape, state, now)
            return
        app = self._ensure_finalizer(kind, app)
        if not self._helm_status(app, state, now, self._render_error(shape), shape.vm_name):
            return
        generation = app["metadata"].get("generation", 1)
        vm = self._find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if vm is None or state.applied_generation != generation:
            vm = self._render_vm(app, shape, vm)
            state.applied_generation = generation
            self._render_service(shape)
        if kind is LEGACY_VIRTUAL_MACHINE:
            self._reconcile_legacy_system_disk(app, vm, now)
        self._advance_vm(shape, vm, state, now)

    def _render_vm(self, app: dict, shape: InstanceShape, existing: dict | None) -> dict:
        spec = app.get("spec") or {}
        run_strategy = shape.run_strategy
        if shape.kind is LEGACY_VIRTUAL_MACHINE and existing is not None and self.faults.legacy_running_ignored:
            run_strategy = existing["spec"].get("runStrategy", run_strategy)
        labels = chart_labels(CHARTS[app["kind"]][0], shape.vm_name)
        data_volume_templates = []
        if shape.kind is LEGACY_VIRTUAL_MACHINE:
            system_disk = spec.get("systemDisk") or {}
            data_volume_templates = [
                {"metadata": {"name": shape.vm_name}, "spec": self._legacy_disk_spec(system_disk, shape)}
            ]
        vm = self._apply(
            KUBEVIRT_VM,
            {
                "metadata": {
                    "name": shape.vm_name,
                    "namespace": shape.namespace,
                    "labels": labels,
                    "annotations": {"kubevirt.io/latest-observed-api-version": "v1"},
                    "finalizers": [KUBEVIRT_FINALIZER],
                },
                "spec": {
                    "runStrategy": run_strategy,
                    "instancetype": {"kind": "VirtualMachineClusterInstancetype", "name": shape.instance_type},
                    "preference": {"kind": "VirtualMachineClusterPreference", "name": shape.instance_profile},
                    "dataVolumeTemplates": data_volume_templates,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "domain": {
                                "devices": {
                                    "gpus": [
                                        {"name": f"gpu{index}", "deviceName": resource}
                                        for index, resource in enumerate(
                                            r for r, count in sorted(shape.gpus.items()) for _ in range(count)
                                        )
                                    ],
                                    "disks": [
                                        {"name": volume, "disk": {"bus": "virtio"}} for volume in shape.disk_volumes
                                    ],
                                }
                            },
                            "volumes": [
                                {"name": volume, "dataVolume": {"name": volume}} for volume in shape.disk_volumes
                            ]
                            + [{"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": spec.get("cloudInit", "")}}],
                        },
                    },
                },
            },
        )
        if existing is not None and existing["spec"].get("runStrategy") != run_strategy:
            self.instances[app["metadata"]["uid"]].manual_running = False
        return vm

    def _render_service(self, shape: InstanceShape) -> None:
        if not shape.external:
            self._delete(SERVICE, shape.namespace, shape.vm_name)
            return
        chart = CHARTS[shape.kind.kind][0]
        ports = [
            {"name": f"port-{port}", "port": port, "targetPort": port, "protocol": "TCP"}
            for port in shape.external_ports
            if isinstance(port, int)
        ]
        if not ports and shape.external_method == "WholeIP":
            # A Service needs a port: the chart gives a whole-IP VM a placeholder.
            ports = [{"name": "fake", "port": 65535, "targetPort": 65535, "protocol": "TCP"}]
        service = self._apply(
            SERVICE,
            {
                "metadata": {
                    "name": shape.vm_name,
                    "namespace": shape.namespace,
                    "labels": {**chart_labels(chart, shape.vm_name), USER_SERVICE_LABEL: "true"},
                    "annotations": {
                        "networking.cozystack.io/wholeIP": "true" if shape.external_method == "WholeIP" else "false"
                    },
                },
                "spec": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": "Local",
                    "selector": {"app.kubernetes.io/name": chart, INSTANCE_LABEL: shape.vm_name},
                    "ports": ports,
                },
            },
        )
        ip_octet = 10 + zlib.crc32(f"{shape.namespace}/{shape.name}".encode()) % 240
        self._write_status(SERVICE, service, {"loadBalancer": {"ingress": [{"ip": f"203.0.113.{ip_octet}"}]}})

    @staticmethod
    def _legacy_disk_spec(system_disk: dict, shape: InstanceShape) -> dict:
        return {
            "source": {"pvc": {"name": f"vm-image-{system_disk.get('image', 'ubuntu')}", "namespace": "cozy-public"}},
            "storage": {
                "resources": {"requests": {"storage": system_disk.get("storage", "5Gi")}},
                "storageClassName": system_disk.get("storageClass", "replicated"),
            },
        }

    def _reconcile_legacy_system_disk(self, app: dict, vm: dict, now: float) -> None:
        """KubeVirt makes the 0.x system disk from the VM's dataVolumeTemplates: no chart label,
        owned by the KubeVirt VM."""
        system_disk = (app.get("spec") or {}).get("systemDisk") or {}
        state = self.disks.setdefault(app["metadata"]["uid"], DiskPhase(helm_since=now, since=now))
        metadata = {
            "name": vm["metadata"]["name"],
            "namespace": vm["metadata"]["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": KUBEVIRT_VM.api_version,
                    "kind": KUBEVIRT_VM.kind,
                    "name": vm["metadata"]["name"],
                    "uid": vm["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        self._advance_data_volume(
            state,
            now,
            metadata,
            {"image": {"name": system_disk.get("image", "ubuntu")}},
            system_disk.get("storage", "5Gi"),
            system_disk.get("storageClass", "replicated"),
        )

    def _wants_running(self, vm: dict, state: InstancePhase) -> bool:
        strategy = vm["spec"].get("runStrategy", "Always")
        return state.manual_running if strategy == "Manual" else strategy in RUNNING_STRATEGIES

    def _move(self, state: InstancePhase, phase: str, now: float) -> None:
        state.phase, state.since, state.transition_time = phase, now, timestamp()

    def _advance_vm(self, shape: InstanceShape, vm: dict, state: InstancePhase, now: float) -> None:
        elapsed = now - state.since
        wants_running = self._wants_running(vm, state) and not state.restart_requested
        if state.restart_requested and state.phase in ("Starting", "Running"):
            self._move(state, "Stopping", now)
            self._event(
                vm,
                "SuccessfulDelete",
                "Stopped the virtual machine by deleting the virtual machine instance for a restart",
                component="virtualmachine-controller",
            )
        elif not wants_running:
            if state.phase in ("Starting", "Running"):
                self._move(state, "Stopping", now)
                self._event(
                    vm,
                    "SuccessfulDelete",
                    "Stopped the virtual machine by deleting the virtual machine instance",
                    component="virtualmachine-controller",
                )
            elif state.phase in ("Provisioning", "ErrorUnschedulable") or (
                state.phase == "Stopping" and elapsed >= self.durations["stop"]
            ):
                self._power_off(shape, state, now)
        elif state.phase in ("Stopped", "Provisioning"):
            if self._disks_ready(shape) and self._quota_counted(shape.namespace):
                self._schedule(shape, vm, state, now)
            elif state.phase != "Provisioning":
                self._move(state, "Provisioning", now)
        elif state.phase == "ErrorUnschedulable" or (state.phase == "Starting" and state.pod_refusal):
            self._schedule(shape, vm, state, now)
        elif state.phase == "Starting" and elapsed >= self.durations["boot"]:
            self._move(state, "Running", now)
            state.started_at = time.time()
            self._event(
                {**vm, "kind": "VirtualMachineInstance"},
                "Started",
                "VirtualMachineInstance started.",
                component="virt-handler",
            )
        self._write_vm_status(shape, state)

    def _power_off(self, shape: InstanceShape, state: InstancePhase, now: float) -> None:
        self.inventory.release(self._holder(shape))
        if state.pod_name:
            self._delete(POD, shape.namespace, state.pod_name)
        state.pod_name = state.pod_refusal = ""
        state.restart_requested = False
        self._move(state, "Stopped", now)

    def _disks_ready(self, shape: InstanceShape) -> bool:
        for volume in shape.disk_volumes:
            data_volume = self._find(DATA_VOLUME, shape.namespace, volume)
            if data_volume is None or (data_volume.get("status") or {}).get("phase") != "Succeeded":
                return False
        return True

    def _quota_counted(self, namespace: str) -> bool:
        """Whether a tenant's namespace has its tenant-quota, counted once by the quota controller.
        On a real cluster the quota predates any workload; a pod admitted just before its quota's
        first count may be missed by it (its informer lags) until the next full resync, minutes on."""
        if self._quota_hard(namespace) is None:
            return True
        quota = self._find(RESOURCE_QUOTA, namespace, TENANT_QUOTA)
        return quota is not None and (quota.get("status") or {}).get("hard") is not None

    @staticmethod
    def _holder(shape: InstanceShape) -> str:
        return f"{shape.namespace}/{shape.vm_name}"

    def _schedule(self, shape: InstanceShape, vm: dict, state: InstancePhase, now: float) -> None:
        if not state.pod_name:
            state.pod_name = f"virt-launcher-{shape.vm_name}-{secrets.token_hex(3)[:5]}"
            self._event(
                vm,
                "SuccessfulCreate",
                f"Started the virtual machine by creating the new virtual machine instance {shape.vm_name}",
                component="virtualmachine-controller",
            )
        short = self.inventory.allocate(self._holder(shape), shape.gpus)
        node = None if short else self._node_for(shape)
        pod = self._find(POD, shape.namespace, state.pod_name)
        try:
            if pod is None:
                pod = self._remember(POD, self.port.create(POD, self._pod(vm, shape, state, node)))
            elif node and not (pod.get("spec") or {}).get("nodeName"):
                pod = self._remember(POD, self.port.bind(shape.namespace, state.pod_name, node))
        except ApiError as exc:
            if exc.code != 403:
                raise
            # Admission refused the pod (the tenant-quota is full): the VMI waits, as KubeVirt's does.
            self.inventory.release(self._holder(shape))
            if state.pod_refusal != exc.message:
                state.pod_refusal = exc.message
                self._event(
                    {**vm, "kind": "VirtualMachineInstance"},
                    "FailedCreate",
                    f"Error creating pod: {exc.message}",
                    warning=True,
                    component="virtualmachine-controller",
                )
            if state.phase != "Starting":
                self._move(state, "Starting", now)
            return
        state.pod_refusal = ""
        if short:
            message = (
                f"0/{NODE_COUNT} nodes are available: "
                + ", ".join(f"{NODE_COUNT} Insufficient {resource}" for resource in short)
                + f". preemption: 0/{NODE_COUNT} nodes are available: {NODE_COUNT} No preemption victims "
                "found for incoming pod."
            )
            self._write_status(
                POD,
                pod,
                {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": message,
                            "lastTransitionTime": state.transition_time or timestamp(),
                        }
                    ],
                },
            )
            if state.phase != "ErrorUnschedulable":
                self._move(state, "ErrorUnschedulable", now)
                self._event(pod, "FailedScheduling", message, warning=True, component="default-scheduler")
            return
        self._event(
            pod,
            "Scheduled",
            f"Successfully assigned {shape.namespace}/{state.pod_name} to {node}",
            component="default-scheduler",
        )
        self._move(state, "Starting", now)

    def _node_for(self, shape: InstanceShape) -> str:
        """A node that has every GPU model the VM asks for (the scheduler counts the pool as a whole)."""
        for index in range(NODE_COUNT):
            gpus = node_gpus(self.gpu_capacity, index)
            if all(gpus.get(resource) for resource in shape.gpus):
                return f"node-{index + 1}"
        return f"node-{zlib.crc32(shape.vm_name.encode()) % NODE_COUNT + 1}"

    def _pod(self, vm: dict, shape: InstanceShape, state: InstancePhase, node: str | None) -> dict:
        """A virt-launcher pod: the template's labels plus KubeVirt's own."""
        labels = dict(((vm["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
        labels.update(
            {
                "kubevirt.io": "virt-launcher",
                "kubevirt.io/created-by": vm["metadata"]["uid"],
                "vm.kubevirt.io/name": shape.vm_name,
            }
        )
        if self.faults.pod_application_labels:
            labels.update(
                {
                    "apps.cozystack.io/application.group": "apps.cozystack.io",
                    "apps.cozystack.io/application.kind": shape.kind.kind,
                    "apps.cozystack.io/application.name": shape.name,
                }
            )
        gpus = {resource: str(count) for resource, count in sorted(shape.gpus.items())}
        spec = {
            "containers": [
                {
                    "name": "compute",
                    "image": "quay.io/kubevirt/virt-launcher:v1.8.4",
                    "resources": {"requests": gpus, "limits": gpus},
                }
            ],
            "automountServiceAccountToken": False,
        }
        if node:
            spec["nodeName"] = node
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": state.pod_name,
                "namespace": shape.namespace,
                "labels": labels,
                # No VirtualMachineInstance kind is served (../shared/kube has no such CRD): the pod
                # is owned by the KubeVirt VM, so that garbage collection removes it with the VM.
                "ownerReferences": [
                    {
                        "apiVersion": KUBEVIRT_VM.api_version,
                        "kind": KUBEVIRT_VM.kind,
                        "name": shape.vm_name,
                        "uid": vm["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }

    def _write_vm_status(self, shape: InstanceShape, state: InstancePhase) -> None:
        current = self._find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if current is None:
            return
        running = state.phase == "Running"
        ready_reason = {"Running": "", "Starting": "PodNotReady", "ErrorUnschedulable": "Unschedulable"}.get(
            state.phase, "VMINotExists"
        )
        conditions = [
            condition(
                "Ready",
                "True" if running else "False",
                ready_reason,
                "" if running else f"VMI is {state.phase.lower()}",
                state.transition_time,
            )
        ]
        pod = self._find(POD, shape.namespace, state.pod_name) if state.pod_name else None
        if state.phase == "ErrorUnschedulable":
            message = (((pod or {}).get("status") or {}).get("conditions") or [{}])[0].get("message", "")
            conditions.append(condition("PodScheduled", "False", "Unschedulable", message, state.transition_time))
        if state.pod_refusal:
            conditions.append(
                condition("Synchronized", "False", "FailedCreate", state.pod_refusal, state.transition_time)
            )
        self._write_status(
            KUBEVIRT_VM,
            current,
            {
                "printableStatus": state.phase,
                "ready": running,
                "created": state.phase in ("Starting", "Running", "Stopping", "ErrorUnschedulable"),
                "runStrategy": current["spec"].get("runStrategy"),
                "conditions": conditions,
                "desiredGeneration": current["metadata"].get("generation", 1),
            },
        )
        if pod is not None and state.phase in ("Starting", "Running"):
            self._write_status(
                POD,
                pod,
                {
                    "phase": "Running",
                    "podIP": f"10.244.{zlib.crc32(state.pod_name.encode()) % 250}.{10 + len(shape.name)}",
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": state.transition_time},
                        {
                            "type": "Ready",
                            "status": "True" if running else "False",
                            "lastTransitionTime": state.transition_time,
                        },
                    ],
                },
            )

    def _terminate(self, kind: Kind, app: dict, shape: InstanceShape, state: InstancePhase, now: float) -> None:
        vm = self._find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
        if state.phase != "Terminating":
            self._move(state, "Terminating", now)
            if vm is not None:
                # Helm uninstalls the release; KubeVirt's finalizer keeps the VM while its VMI stops.
                self._delete(KUBEVIRT_VM, shape.namespace, shape.vm_name)
                vm = self._find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
                if vm is not None:
                    self._write_status(KUBEVIRT_VM, vm, {"printableStatus": "Terminating", "ready": False})
                    self._event(
                        vm, "SuccessfulDelete", "Deleting the virtual machine", component="virtualmachine-controller"
                    )
            return
        if now - state.since < self.durations["terminate"]:
            return
        self._power_off(shape, state, now)
        if vm is not None:
            self._delete(KUBEVIRT_VM, shape.namespace, shape.vm_name)
            vm = self._find(KUBEVIRT_VM, shape.namespace, shape.vm_name)
            if vm is not None:
                self._set_finalizers(KUBEVIRT_VM, vm, [])
        self._delete(SERVICE, shape.namespace, shape.vm_name)
        if kind is LEGACY_VIRTUAL_MACHINE:
            self._delete(DATA_VOLUME, shape.namespace, shape.vm_name)
            self.disks.pop(app["metadata"]["uid"], None)
        self.instances.pop(app["metadata"]["uid"], None)
        self._release_finalizer(kind, app)

    # -- garbage collection, events, exporters --------------------------------------------------

    def _collect_orphans(self, disks: list[dict], apps: list[dict]) -> None:
        """Removes what a vanished apps object rendered (deleted before it got a finalizer), found
        by name and chart label as Helm's release records would; force-deletes the pods nothing
        runs any more (no kubelet ends a pod on its own)."""
        releases = {(d["metadata"]["namespace"], f"vm-disk-{d['metadata']['name']}") for d in disks}
        releases |= {(app["metadata"]["namespace"], CHARTS[app["kind"]][1] + app["metadata"]["name"]) for app in apps}
        for kind in (KUBEVIRT_VM, SERVICE, DATA_VOLUME):
            for obj in self._all(kind):
                metadata = obj["metadata"]
                if (metadata.get("labels") or {}).get(INSTANCE_LABEL) != metadata["name"]:
                    continue  # not rendered by a chart (a 0.x DataVolume goes with its KubeVirt VM)
                if (metadata["namespace"], metadata["name"]) not in releases:
                    self._delete(kind, metadata["namespace"], metadata["name"])
                    if kind is KUBEVIRT_VM and self._find(kind, metadata["namespace"], metadata["name"]):
                        self._set_finalizers(kind, self._find(kind, metadata["namespace"], metadata["name"]), [])
        current_pods = {state.pod_name for state in self.instances.values() if state.pod_name}
        for pod in self._all(POD):
            metadata = pod["metadata"]
            if (metadata.get("labels") or {}).get("kubevirt.io") != "virt-launcher":
                continue
            if metadata.get("deletionTimestamp") or metadata["name"] not in current_pods:
                self._delete(POD, metadata["namespace"], metadata["name"])
        live_uids = {app["metadata"]["uid"] for app in apps} | {d["metadata"]["uid"] for d in disks}
        for uid in set(self.instances) - live_uids:
            del self.instances[uid]
        for uid in set(self.disks) - live_uids:
            del self.disks[uid]
        holders = {self._holder(self._shape(KINDS_BY_APP[app["kind"]], app)) for app in apps}
        for holder in set(self.inventory.allocations) - holders:
            self.inventory.release(holder)

    def _event(self, involved: dict, reason: str, message: str, *, warning: bool = False, component: str) -> None:
        """Records an event, or counts it again; like client-go's recorder, never fails the caller
        (a namespace being deleted refuses new events)."""
        metadata = involved["metadata"]
        key = (metadata.get("uid"), involved.get("kind"), reason, message)
        now = timestamp()
        existing = self.events.get(key)
        try:
            if existing is not None:
                try:
                    self.events[key] = self.port.replace(
                        EVENT, {**existing, "count": existing.get("count", 1) + 1, "lastTimestamp": now}
                    )
                    return
                except ApiError as exc:
                    if exc.code not in (404, 409):
                        raise
            involved_object = {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            }
            self.events[key] = self.port.create(
                EVENT,
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{metadata['name']}.{secrets.token_hex(8)}",
                        "namespace": metadata["namespace"],
                    },
                    "involvedObject": {field: value for field, value in involved_object.items() if value},
                    "reason": reason,
                    "message": message,
                    "type": "Warning" if warning else "Normal",
                    "source": {"component": component},
                    "reportingComponent": component,
                    "reportingInstance": "",
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            )
        except ApiError as exc:
            log.debug("event %s on %s not recorded: %s %s", reason, metadata["name"], exc.code, exc.message)

    def _publish_guests(self, apps: list[dict]) -> None:
        guests = []
        for app in apps:
            state = self.instances.get(app["metadata"]["uid"])
            if state is None or state.phase != "Running":
                continue
            shape = self._shape(KINDS_BY_APP[app["kind"]], app)
            allocation = self.inventory.allocations.get(self._holder(shape), {})
            resources = tuple(r for r, count in sorted(allocation.items()) for _ in range(count))
            if not resources:
                continue
            annotations = app["metadata"].get("annotations") or {}
            profile = annotations.get(WORKLOAD_ANNOTATION)
            if profile not in WORKLOAD_PROFILES:
                profile = WORKLOAD_PROFILES[zlib.crc32(shape.name.encode()) % len(WORKLOAD_PROFILES)]
            guests.append(
                GpuGuest(
                    shape.namespace,
                    shape.name,
                    shape.vm_name,
                    app["metadata"]["uid"],
                    resources,
                    state.started_at,
                    profile,
                )
            )
        guests_tuple = tuple(guests)
        if guests_tuple != self.guests:
            self.guests = guests_tuple
            self.on_guests_changed(guests_tuple)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "paused": self.paused,
                "time_scale": self.time_scale,
                "gpus": self.inventory.snapshot(),
                "allocations": dict(self.inventory.allocations),
                "instances": {uid: state.phase for uid, state in self.instances.items()},
                "tenant_quotas": {namespace: hard for namespace, hard in sorted(self.tenant_quotas.items())},
                "guests": [
                    {"namespace": g.namespace, "vm": g.vm, "gpus": list(g.gpu_resources), "profile": g.profile}
                    for g in self.guests
                ],
            }
