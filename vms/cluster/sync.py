"""Status sync: keeps the portal's view of every VM true to the cluster.

One cycle (`sync_cluster`, run by Celery beat every CLUSTER_SYNC_INTERVAL_SECONDS) makes one
LIST per team namespace and kind (apps objects, KubeVirt VMs, DataVolumes, Services, Warning
events, the `tenant-quota` ResourceQuota), one LIST of Nodes when it may read them, and never a
GET per VM, then maps what it saw onto the VMs:

- cluster status, status message, disk import progress and public IP, with an event per change;
- state moves the cluster confirms (provisioning/starting → running once KubeVirt says Running,
  stopping → stopped) and failures in the cluster's words (Helm render errors, image pulls,
  crash loops); a VM that waits for a GPU stays provisioning with a message saying so;
- drift: a running VM whose objects vanished is failed or re-created (CLUSTER_DRIFT_POLICY);
- lost work: a VM whose task was lost (killed worker, Redis restart) gets it enqueued again;
- orphans (objects with the portal's labels no live VM claims);
- capacity, for vms.governance.capacity: the GPUs the cluster's VMs hold, what the nodes can allocate, and
  each team's tenant quota (read for every team, VMs or not: a first request needs it too).

The database work is a fixed number of queries whatever the number of VMs (bulk updates and
inserts), plus a few per VM whose state actually moves: each move goes through
vms.transitions.vm_transition, which checks the state in its UPDATE.

The cluster is listed before the VMs are read: a VM deleted meanwhile is then seen deleting,
not as a running VM whose objects vanished.
"""

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from hikube_portal import metrics, task_names
from vms import transitions
from vms.cluster.gateway import (
    DATA_VOLUME,
    EVENT,
    KUBEVIRT_VM,
    NODE,
    RESOURCE_QUOTA,
    SERVICE,
    VM_DISK,
    ClusterError,
    ClusterGateway,
    whole_quantity,
)
from vms.cluster.provisioning import helm_failure, release_failure
from vms.cluster.shapes import SHAPES, shape_of
from vms.errors import InvalidTransition
from vms.models import Event, GpuAllocation, GpuModel, OrphanObject, Team, TenantQuota, VirtualMachine
from vms.render.manifests import CHART_INSTANCE_LABEL, LABEL_MANAGED_BY, LABEL_VM_ID, MANAGED_BY_PORTAL, rendered_for
from vms.render.vm_record import vm_object_names
from vms.spec.request import SSH_PORT
from vms.states import LISTED_TEAM_STATES, SYNCED_STATES
from vms.transitions import vm_transition

log = logging.getLogger(__name__)
State = VirtualMachine.State

# printableStatus values under which KubeVirt has a pod scheduled, so the VM's GPUs are taken.
GPU_HOLDING_STATUSES = {"Starting", "Running", "Stopping", "Paused", "Migrating", "Terminating"}
FAILURE_STATUSES = {"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "ErrorPvcNotFound", "DataVolumeError"}
RUNNING_STRATEGIES = {"Always", "RerunOnFailure", "Once"}
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY_PORTAL}"
LOCK_KEY = "vms.sync.running"
EVENT_BATCH = 1000
# Cozystack's tenant app names the ResourceQuota it writes from the tenant's resourceQuotas.
TENANT_QUOTA_LIST = (RESOURCE_QUOTA, "", "metadata.name=tenant-quota")
# A GPU quota key is the resource name, bare or after one of these (Kubernetes takes the tightest).
QUOTA_KEY_PREFIXES = ("requests.", "limits.", "")
# A 403 on nodes or on a tenant quota is said once an hour, not every cycle; with
# CLUSTER_READ_NODES=auto, nodes are not asked for again meanwhile.
FORBIDDEN_MEMORY_SECONDS = 3600
NODES_FORBIDDEN_KEY = "vms.sync.nodes_forbidden"
QUOTA_FORBIDDEN_KEY = "vms.sync.quota_forbidden"


@dataclass
class NamespaceObjects:
    """What one namespace holds, as listed in this cycle, by name."""

    apps: dict[tuple[str, str], dict] = field(default_factory=dict)  # (kind, name) → object
    kubevirt: dict[str, dict] = field(default_factory=dict)
    data_volumes: dict[str, dict] = field(default_factory=dict)
    services: dict[str, dict] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)  # involved object name → latest message
    quota: dict | None = None  # the tenant-quota ResourceQuota, if any and readable


@dataclass
class Observation:
    """One VM as the cluster shows it."""

    missing: list[str]
    instance: dict | None
    cluster_status: str = ""
    status_message: str = ""
    disk_status: dict = field(default_factory=dict)
    external_ip: str | None = None
    helm_failure: str = ""
    failure: str = ""
    waiting_for_gpu: bool = False

    @property
    def wants_running(self) -> bool:
        spec = (self.instance or {}).get("spec") or {}
        if "running" in spec and "runStrategy" not in spec:
            return bool(spec["running"])
        return spec.get("runStrategy", "Always") in RUNNING_STRATEGIES


@dataclass
class SyncReport:
    namespaces: int = 0
    failed_namespaces: list[str] = field(default_factory=list)
    vms: int = 0
    updated: int = 0
    events: int = 0
    transitions: int = 0
    enqueued: int = 0
    orphans: int = 0


def _kinds(shapes: set[str]) -> list[tuple]:
    """(kind, label selector, field selector) of each LIST a namespace gets."""
    apps = [kind for shape in sorted(shapes) for kind in SHAPES[shape].apps]
    return (
        [(kind, MANAGED_SELECTOR, "") for kind in apps]
        # What the charts render carries the release's instance label, never ours; the 0.x
        # DataVolume comes from the KubeVirt VM's dataVolumeTemplates with no label at all.
        + [(KUBEVIRT_VM, CHART_INSTANCE_LABEL, ""), (SERVICE, CHART_INSTANCE_LABEL, ""), (DATA_VOLUME, "", "")]
        + [(EVENT, "", "type=Warning"), TENANT_QUOTA_LIST]
    )


def observe_namespace(gateway: ClusterGateway, namespace: str, kinds: list[tuple]) -> NamespaceObjects:
    objects = NamespaceObjects()
    latest_warning: dict[str, str] = {}
    for kind, label_selector, field_selector in kinds:
        try:
            listed = gateway.list(kind, namespace, label_selector=label_selector, field_selector=field_selector)
        except ClusterError as exc:
            if kind is not RESOURCE_QUOTA or exc.status != 403:
                raise
            # A quota the portal may not read leaves the team's free GPUs to the nodes or the
            # catalogue; the namespace's VMs are still synced.
            if cache.add(f"{QUOTA_FORBIDDEN_KEY}:{namespace}", 1, FORBIDDEN_MEMORY_SECONDS):
                log.warning("status sync: the tenant-quota of %s is not readable: %s", namespace, exc.message)
            continue
        for obj in listed:
            name = obj.get("metadata", {}).get("name", "")
            if kind is RESOURCE_QUOTA:
                objects.quota = obj
            elif kind is KUBEVIRT_VM:
                objects.kubevirt[name] = obj
            elif kind is DATA_VOLUME:
                objects.data_volumes[name] = obj
            elif kind is SERVICE:
                objects.services[name] = obj
            elif kind is EVENT:
                involved = (obj.get("involvedObject") or {}).get("name", "")
                stamp = obj.get("lastTimestamp") or obj.get("eventTime") or ""
                if stamp >= latest_warning.get(involved, ""):
                    latest_warning[involved] = stamp
                    objects.warnings[involved] = obj.get("message", "")
            else:
                objects.apps[(kind.kind, name)] = obj
    return objects


def _condition_messages(obj: dict) -> list[str]:
    """Messages of the failing conditions, the specific ones (PodScheduled, Failure…) before
    Ready's summary."""
    failing = [
        c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "False" and c.get("message")
    ]
    return [c["message"] for c in sorted(failing, key=lambda c: c.get("type") == "Ready")]


def _owned(app: dict | None, vm: VirtualMachine) -> dict | None:
    """The app object `app` if our labels on it say it is this VM's (a deleted namesake may linger)."""
    if app is not None and (app.get("metadata", {}).get("labels") or {}).get(LABEL_VM_ID) == str(vm.pk):
        return app
    return None


def observe_vm(vm: VirtualMachine, objects: NamespaceObjects) -> Observation:
    names = vm_object_names(vm)
    instance_kind = shape_of(vm).instance.kind
    instance = _owned(objects.apps.get((instance_kind, names.app_name)), vm)
    missing = [] if instance else [f"{instance_kind} {names.app_name}"]
    apps = [instance] if instance else []
    # The app each DataVolume is rendered for: its VMDisk, or the 0.x VirtualMachine itself.
    disk_apps: dict[str, dict | None] = {}
    for disk in names.disks:
        if disk.vmdisk is None:
            disk_apps[disk.disk] = instance
            continue
        vmdisk = disk_apps[disk.disk] = _owned(objects.apps.get((VM_DISK.kind, disk.vmdisk)), vm)
        if vmdisk is None:
            missing.append(f"VMDisk {disk.vmdisk}")
        else:
            apps.append(vmdisk)
    observation = Observation(missing=missing, instance=instance)
    observation.helm_failure = next((failure for failure in map(helm_failure, apps) if failure), "")
    release_waits = next((failure for failure in map(release_failure, apps) if failure), "")

    for disk in names.disks:
        data_volume = rendered_for(objects.data_volumes.get(disk.data_volume), disk_apps[disk.disk])
        phase = ((data_volume or {}).get("status") or {}).get("phase")
        # A DataVolume CDI has not reported on yet has no status: nothing to say about it.
        if phase:
            observation.disk_status[disk.disk] = {"phase": phase, "progress": data_volume["status"].get("progress", "")}
    service = rendered_for(objects.services.get(names.service), instance)
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    observation.external_ip = next((entry.get("ip") for entry in ingress if entry.get("ip")), None)

    kubevirt = rendered_for(objects.kubevirt.get(names.kubevirt_vm), instance)
    if kubevirt is not None:
        status = (kubevirt.get("status") or {}).get("printableStatus", "")
        observation.cluster_status = status
        words = [*_condition_messages(kubevirt), objects.warnings.get(names.kubevirt_vm, "")]
        cluster_words = next((message for message in words if message), status)
        if status == "ErrorUnschedulable" and any(vm.gpu_model.resource_name in message for message in words):
            observation.waiting_for_gpu = True
            observation.status_message = N_("No free %(model)s right now: waiting for one to be released") % {
                "model": vm.gpu_model.slug
            }
        elif status == "ErrorUnschedulable":
            observation.status_message = cluster_words
        elif status in FAILURE_STATUSES:
            observation.failure = observation.status_message = f"{status}: {cluster_words}"
    if observation.helm_failure or release_waits:
        observation.status_message = observation.helm_failure or release_waits
    return observation


def _status_events(vm: VirtualMachine, seen: Observation) -> list[tuple[str, dict]]:
    """(message, data) of the events that tell what changed since the last cycle. The address
    stays out of them: every reader of the VM sees its timeline, while the SSH command is
    revealed on request and each reveal audited (vms.web.views.vm_connection)."""
    events = []
    status_changed = seen.cluster_status != vm.cluster_status
    ip_changed = seen.external_ip != vm.external_ip
    if seen.cluster_status == "Running" and (status_changed or ip_changed):
        if seen.external_ip and SSH_PORT in vm.public_ports:
            events.append((N_("Running — reachable over SSH"), {}))
        elif seen.external_ip:
            events.append((N_("Running — public IP assigned"), {}))
        else:
            events.append((N_("Running"), {}))
    elif status_changed and seen.waiting_for_gpu:
        events.append((N_("No free %(model)s right now: waiting for one to be released"), {"model": vm.gpu_model.slug}))
    elif status_changed and seen.cluster_status:
        events.append((N_("Cluster status: %(status)s"), {"status": seen.cluster_status}))
    elif ip_changed and seen.external_ip:
        events.append((N_("Public IP changed"), {}))
    if seen.status_message and seen.status_message != vm.status_message and not seen.waiting_for_gpu:
        events.append((N_("The cluster says: %(message)s"), {"message": seen.status_message}))
    for disk, status in seen.disk_status.items():
        if status["phase"] == (vm.disk_status or {}).get(disk, {}).get("phase"):
            continue
        if status["phase"].endswith("InProgress"):
            events.append((N_("Disk %(disk)s: importing %(progress)s"), {"disk": disk, "progress": status["progress"]}))
        elif status["phase"] == "Succeeded":
            events.append((N_("Disk %(disk)s: ready"), {"disk": disk}))
        else:
            events.append((N_("Disk %(disk)s: %(phase)s"), {"disk": disk, "phase": status["phase"]}))
    return events


def _work_is_stale(vm: VirtualMachine, now) -> bool:
    return (
        vm.work_touched_at is None or (now - vm.work_touched_at).total_seconds() > settings.CLUSTER_WORK_STALE_SECONDS
    )


def _lost_work(vm: VirtualMachine, seen: Observation) -> str | None:
    """The task to enqueue again when the cluster still disagrees with the VM's state."""
    if vm.state == State.PROVISIONING and seen.missing:
        return task_names.PROVISION_VM
    if vm.state == State.STARTING and (seen.missing or not seen.wants_running):
        return task_names.START_VM
    if vm.state == State.STOPPING and seen.instance is not None and seen.wants_running:
        return task_names.STOP_VM
    if vm.state == State.DELETING:
        return task_names.DELETE_VM
    return None


def _move(vm: VirtualMachine, to_state: str, **fields) -> bool:
    try:
        vm_transition(vm_id=vm.pk, to_state=to_state, **fields)
    except InvalidTransition:
        # Someone moved the VM since it was read; the next cycle sees the new state.
        return False
    return True


def _reconcile_state(vm: VirtualMachine, seen: Observation, report: SyncReport, now) -> str | None:
    """Moves the VM when the cluster confirms or contradicts its state; returns a task to
    enqueue again, if any."""
    state = vm.state
    if seen.helm_failure and state in (State.PROVISIONING, State.STARTING, State.RUNNING, State.STOPPING):
        report.transitions += _move(
            vm, State.FAILED, reason=seen.helm_failure, failure_message=seen.helm_failure, failure_retryable=False
        )
    elif seen.failure and state in (State.PROVISIONING, State.STARTING, State.RUNNING):
        report.transitions += _move(
            vm, State.FAILED, reason=seen.failure, failure_message=seen.failure, failure_retryable=True
        )
    elif state in (State.PROVISIONING, State.STARTING) and seen.cluster_status == "Running":
        report.transitions += _move(vm, State.RUNNING)
    elif state == State.STOPPING and seen.cluster_status == "Stopped" and not seen.wants_running:
        report.transitions += _move(vm, State.STOPPED)
    elif state in (State.RUNNING, State.STOPPED) and seen.missing:
        message = "Gone from the cluster: " + ", ".join(seen.missing)
        if _move(vm, State.FAILED, reason=message, failure_message=message, failure_retryable=True):
            report.transitions += 1
            # Re-creating boots the VM: right for one that was running, not for a stopped one,
            # which waits failed until its owner retries.
            if settings.CLUSTER_DRIFT_POLICY == "recreate" and state == State.RUNNING:
                report.transitions += _move(
                    vm, State.PROVISIONING, work_touched_at=now, failure_message="", failure_retryable=False
                )
                return task_names.PROVISION_VM
    elif _work_is_stale(vm, now):
        return _lost_work(vm, seen)
    return None


def _gpu_allocations(namespaces: dict[str, NamespaceObjects]) -> Counter:
    allocated: Counter = Counter()
    for objects in namespaces.values():
        for kubevirt in objects.kubevirt.values():
            if (kubevirt.get("status") or {}).get("printableStatus") not in GPU_HOLDING_STATUSES:
                continue
            template = ((kubevirt.get("spec") or {}).get("template") or {}).get("spec") or {}
            for gpu in ((template.get("domain") or {}).get("devices") or {}).get("gpus") or []:
                if gpu.get("deviceName"):
                    allocated[gpu["deviceName"]] += 1
    return allocated


def observe_node_allocatable(gateway: ClusterGateway, resources: set[str]) -> Counter | None:
    """GPUs the nodes can allocate, per resource name among `resources`; None when nodes are
    not read (CLUSTER_READ_NODES, a 403, or an API that serves no nodes)."""
    mode = settings.CLUSTER_READ_NODES
    if mode == "false" or (mode == "auto" and cache.get(NODES_FORBIDDEN_KEY)):
        return None
    try:
        nodes = gateway.list(NODE, None)
    except ClusterError as exc:
        if exc.status != 403:
            raise
        if cache.add(NODES_FORBIDDEN_KEY, 1, FORBIDDEN_MEMORY_SECONDS):
            log.log(
                logging.ERROR if mode == "true" else logging.WARNING,
                "status sync: nodes are not readable (%s); free GPUs come from the tenant quotas, or are "
                "estimated from the catalogue",
                exc.message,
            )
        return None
    if not nodes:
        # A real cluster always has nodes: an empty list is a stand-in API that serves none.
        return None
    allocatable: Counter = Counter()
    for node in nodes:
        for resource, quantity in ((node.get("status") or {}).get("allocatable") or {}).items():
            if resource in resources:
                allocatable[resource] += whole_quantity(quantity)
    return allocatable


def _tenant_quotas(team_id: int, quota: dict | None, resources: set[str], now) -> list[TenantQuota]:
    """One row per GPU resource among `resources` the quota bounds, from its tightest key."""
    status = (quota or {}).get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    tightest: dict[str, TenantQuota] = {}
    for resource in resources:
        for key in (prefix + resource for prefix in QUOTA_KEY_PREFIXES):
            # The quota controller reports both once it has counted; until then nothing is known.
            if key not in hard or key not in used:
                continue
            row = TenantQuota(
                team_id=team_id,
                resource_name=resource,
                hard=whole_quantity(hard[key]),
                used=whole_quantity(used[key]),
                observed_at=now,
            )
            best = tightest.get(resource)
            if best is None or row.hard - row.used < best.hard - best.used:
                tightest[resource] = row
    return list(tightest.values())


def _orphans(namespace: str, objects: NamespaceObjects, known_ids: set[str], now) -> list[OrphanObject]:
    orphans = []
    for (kind, name), obj in sorted(objects.apps.items()):
        vm_id = (obj["metadata"].get("labels") or {}).get(LABEL_VM_ID, "")
        if vm_id not in known_ids:
            orphans.append(
                OrphanObject(
                    namespace=namespace,
                    kind=kind,
                    name=name,
                    vm_id_label=vm_id[:63],
                    created_at=obj["metadata"].get("creationTimestamp", "")[:40],
                    seen_at=now,
                )
            )
    return orphans


def sync_cluster(*, gateway: ClusterGateway) -> SyncReport:
    report = SyncReport()
    teams = list(
        Team.objects.annotate(
            on_cluster=Exists(VirtualMachine.objects.filter(team=OuterRef("pk"), state__in=LISTED_TEAM_STATES))
        )
    )
    shapes = {settings.CLUSTER_API_SHAPE} | set(
        VirtualMachine.objects.filter(state__in=SYNCED_STATES).values_list("api_shape", flat=True).distinct()
    )
    kinds = _kinds(shapes)
    resources = set(GpuModel.objects.values_list("resource_name", flat=True))
    nodes_failed = False
    try:
        allocatable = observe_node_allocatable(gateway, resources)
    except ClusterError as exc:
        log.warning("status sync: cannot list nodes: %s", exc.message)
        allocatable, nodes_failed = None, True
    listed: dict[int, NamespaceObjects] = {}
    quotas: dict[int, dict | None] = {}
    for team in teams:
        try:
            objects = observe_namespace(gateway, team.namespace, kinds if team.on_cluster else [TENANT_QUOTA_LIST])
        except ClusterError as exc:
            # Nothing is concluded about a namespace seen partly: no drift, no orphans.
            log.warning("status sync: cannot list %s: %s", team.namespace, exc.message)
            report.failed_namespaces.append(team.namespace)
            continue
        quotas[team.pk] = objects.quota
        if team.on_cluster:
            listed[team.pk] = objects
    report.namespaces = len(quotas)

    now = timezone.now()
    vms = list(
        VirtualMachine.objects.filter(team_id__in=listed, state__in=SYNCED_STATES).select_related(
            "team", "instance_type", "gpu_model"
        )
    )
    report.vms = len(vms)
    changed, events, enqueue = [], [], []
    known_ids: dict[int, set[str]] = defaultdict(set)
    for vm in vms:
        known_ids[vm.team_id].add(str(vm.pk))
        seen = observe_vm(vm, listed[vm.team_id])
        for message, data in _status_events(vm, seen):
            events.append(
                Event(
                    kind=Event.Kind.CLUSTER,
                    vm=vm,
                    team_id=vm.team_id,
                    target=f"{vm.team.name}/{vm.name}",
                    message=message,
                    data=data,
                )
            )
        if (seen.cluster_status, seen.status_message, seen.disk_status, seen.external_ip) != (
            vm.cluster_status,
            vm.status_message,
            vm.disk_status,
            vm.external_ip,
        ):
            vm.cluster_status, vm.status_message = seen.cluster_status, seen.status_message
            vm.disk_status, vm.external_ip = seen.disk_status, seen.external_ip
            changed.append(vm)
        task = _reconcile_state(vm, seen, report, now)
        if task:
            enqueue.append((task, vm.pk))

    with transaction.atomic():
        VirtualMachine.objects.bulk_update(
            changed, ["cluster_status", "status_message", "disk_status", "external_ip"], batch_size=500
        )
        # A VM deleted while this cycle ran must not keep the status read before: it is never synced again.
        VirtualMachine.objects.filter(pk__in=[vm.pk for vm in changed]).exclude(state__in=SYNCED_STATES).update(
            cluster_status="", status_message="", disk_status={}, external_ip=None
        )
        Event.objects.bulk_create(events, batch_size=EVENT_BATCH)
        if enqueue:
            VirtualMachine.objects.filter(pk__in=[vm_id for _, vm_id in enqueue]).update(work_touched_at=now)
            for task, vm_id in enqueue:
                transitions.enqueue_on_commit(task, vm_id=vm_id)
        namespaces = [team.namespace for team in teams if team.pk in listed]
        orphans = [
            orphan
            for team in teams
            if team.pk in listed
            for orphan in _orphans(team.namespace, listed[team.pk], known_ids[team.pk], now)
        ]
        OrphanObject.objects.filter(namespace__in=namespaces).delete()
        OrphanObject.objects.bulk_create(orphans, batch_size=EVENT_BATCH)
        _store_tenant_quotas(quotas, resources, now)
        # GPU figures are stored whole or not at all: every namespace's VMs, and the nodes.
        if not report.failed_namespaces and not nodes_failed:
            _store_gpu_allocations(_gpu_allocations(listed), allocatable, resources, now)
    report.updated, report.events, report.enqueued, report.orphans = (
        len(changed),
        len(events),
        len(enqueue),
        len(orphans),
    )
    return report


def _store_gpu_allocations(allocated: Counter, allocatable: Counter | None, resources: set[str], now) -> None:
    # Every catalogue model gets a row, zero included: no rows at all means "never synced".
    resources = resources | set(allocated)
    GpuAllocation.objects.bulk_create(
        [
            GpuAllocation(
                resource_name=resource,
                allocated=allocated.get(resource, 0),
                observed_at=now,
                allocatable=None if allocatable is None else allocatable.get(resource, 0),
            )
            for resource in resources
        ],
        update_conflicts=True,
        unique_fields=["resource_name"],
        update_fields=["allocated", "allocatable", "observed_at"],
    )
    GpuAllocation.objects.exclude(resource_name__in=resources).delete()


def _store_tenant_quotas(quotas: dict[int, dict | None], resources: set[str], now) -> None:
    """Replaces the quota rows of the teams whose namespace was listed (`quotas`: team id →
    tenant-quota, None when it has none)."""
    TenantQuota.objects.bulk_create(
        [row for team_id, quota in quotas.items() for row in _tenant_quotas(team_id, quota, resources, now)],
        update_conflicts=True,
        unique_fields=["team", "resource_name"],
        update_fields=["hard", "used", "observed_at"],
    )
    # Rows this cycle did not write again: the quota was removed, or no longer bounds that GPU.
    TenantQuota.objects.filter(team_id__in=quotas, observed_at__lt=now).delete()


def sync_cluster_locked(*, gateway: ClusterGateway) -> SyncReport | None:
    """`sync_cluster`, unless another cycle is running (a slow cycle is not stacked upon)."""
    timeout = max(60, int(settings.CLUSTER_SYNC_INTERVAL_SECONDS * 6))
    if not cache.add(LOCK_KEY, 1, timeout):
        return None
    lists_before, started = _list_calls(gateway), time.perf_counter()
    try:
        report = sync_cluster(gateway=gateway)
    finally:
        cache.delete(LOCK_KEY)
    metrics.observe_sync_cycle(
        seconds=time.perf_counter() - started,
        list_calls=_list_calls(gateway) - lists_before,
        failed_namespaces=len(report.failed_namespaces),
    )
    return report


def _list_calls(gateway: ClusterGateway) -> int:
    return sum(count for (verb, _), count in gateway.calls.items() if verb == "list")


def orphans():
    """Objects with the portal's labels that no live VM claims, as of the last sync."""
    return OrphanObject.objects.order_by("namespace", "kind", "name")
