"""The demo fleet of `make run`: VMs in the states a real fleet has, with a past.

`demo_record` writes them (idempotent: a second run puts each demo VM back in its demo state,
relative to now, without duplicating anything); `demo_cluster_apply` creates their objects on
the development cluster before the status sync first looks (a running or stopped VM without
objects would be called gone); `demo_history` is a week of DCGM series for them, which
`seed_demo` backfills into Prometheus' data directory before Prometheus starts.

Names matter on the development cluster: without a workload annotation (the portal writes
none) its simulated exporter picks the guest's profile from the name, so each running demo VM
is named for a profile that continues its history (training, inference, idle)."""

import random
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext_noop as N_

from monitoring import dcgm_history as history
from vms import states
from vms.catalogue.loading import catalogue_from_db
from vms.cluster.gateway import ClusterError, ClusterGateway
from vms.models import Event, GpuModel, InstanceType, Quota, Team, VirtualMachine
from vms.render.manifests import render_manifests
from vms.render.vm_record import vm_object_names, vm_spec

State = VirtualMachine.State
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# (team, GPU model slug, GPUs at most)
DEMO_QUOTAS = [
    ("ml-research", "H100", 16),
    ("ml-research", "L40S", 8),
    ("ml-research", "A100", 4),
    ("vision", "A100", 8),
    ("vision", "L40S", 4),
]
# What KubeVirt says when no node has a free GPU of the model (an ErrorUnschedulable VM's condition).
UNSCHEDULABLE = (
    "0/3 nodes are available: 3 Insufficient nvidia.com/GA100_A100_PCIE_80GB. preemption: 0/3 "
    "nodes are available: 3 No preemption victims found for incoming pod."
)


@dataclass(frozen=True)
class DemoVm:
    name: str
    team: str
    owner: str
    instance_type: str
    gpu: str
    state: str
    requested_ago: timedelta
    # When it entered `state`; running VMs started then, a stopped one ran from `requested_ago` until then.
    since_ago: timedelta
    workload: str = ""  # history pattern: training, inference or idle
    lease: timedelta | None = None  # from now
    justification: str = ""
    approver: str = ""
    failure: str = ""


DEMO_VMS = [
    DemoVm(
        "llama-finetune",
        "ml-research",
        "alice",
        "g4.xlarge",
        "H100",
        State.RUNNING,
        6 * DAY + 2 * HOUR,
        6 * DAY,
        workload="training",
        lease=3 * DAY,
        approver="bob",
        justification="Fine-tune Llama 3 70B on the support tickets corpus",
    ),
    DemoVm(
        "chat-inference",
        "ml-research",
        "carol",
        "g1.large",
        "L40S",
        State.RUNNING,
        9 * DAY,
        9 * DAY,
        workload="inference",
    ),
    DemoVm(
        "notebook-forgotten", "vision", "carol", "g1.large", "A100", State.RUNNING, 5 * DAY, 5 * DAY, workload="idle"
    ),
    DemoVm(
        "eval-sprint",
        "ml-research",
        "alice",
        "g1.large",
        "L40S",
        State.RUNNING,
        2 * DAY,
        2 * DAY,
        workload="idle",
        lease=20 * HOUR,
    ),
    DemoVm(
        "render-scenes", "vision", "carol", "g2.large", "L40S", State.STOPPED, 6 * DAY, 2 * DAY, workload="training"
    ),
    DemoVm(
        "llm-70b",
        "ml-research",
        "alice",
        "g8.2xlarge",
        "H100",
        State.PENDING_APPROVAL,
        3 * HOUR,
        3 * HOUR,
        lease=5 * DAY,
        justification="Pre-train the 70B model on the legal corpus before the review",
    ),
    DemoVm("sweep-a100", "vision", "carol", "g8.2xlarge", "A100", State.APPROVED, HOUR, HOUR),
    DemoVm(
        "train-oom", "ml-research", "alice", "g2.large", "A100", State.FAILED, DAY + HOUR, DAY, failure=UNSCHEDULABLE
    ),
]
DEMO_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMC2rlzOT2tMIz5pLIA9d8+2nWeuUMhQlGoE/Lq8thr demo@hikube"


@transaction.atomic
def demo_record(*, users: dict, now: datetime) -> list[VirtualMachine]:
    """The demo VMs in their demo states, their teams' quotas, and (once) their timelines."""
    teams = {team.name: team for team in Team.objects.all()}
    models = {gpu.slug: gpu for gpu in GpuModel.objects.all()}
    types = {it.name: it for it in InstanceType.objects.all()}
    for team, gpu, limit in DEMO_QUOTAS:
        Quota.objects.update_or_create(team=teams[team], gpu_model=models[gpu], defaults={"max_gpus": limit})
    vms = []
    for demo in DEMO_VMS:
        instance_type = types[demo.instance_type]
        vm, created = VirtualMachine.objects.exclude(state__in=states.FINAL_STATES).update_or_create(
            team=teams[demo.team],
            name=demo.name,
            defaults={
                "owner": users[demo.owner],
                "instance_type": instance_type,
                "gpu_model": models[demo.gpu],
                "gpu_count": instance_type.gpu_count,
                "image": "ubuntu",
                "system_disk_gib": 100,
                "system_disk_class": "replicated",
                "public_ports": [22],
                "ssh_keys": [DEMO_SSH_KEY],
                "software": ["nvidia-driver", "dcgm-exporter"],
                "justification": demo.justification,
                "lease_ends_at": now + demo.lease if demo.lease else None,
                "state": demo.state,
                "cluster_status": "ErrorUnschedulable" if demo.failure else "",
                "failure_message": demo.failure,
                "failure_retryable": bool(demo.failure),
                "lease_reminded_at": None,
                "work_touched_at": None,
            },
        )
        # auto_now_add fields are set by an UPDATE: the demo's past is relative to this run.
        VirtualMachine.objects.filter(pk=vm.pk).update(
            created_at=now - demo.requested_ago, state_changed_at=now - demo.since_ago
        )
        if created:
            _timeline(vm, demo, users=users, now=now)
        vm.refresh_from_db()
        vms.append(vm)
    return vms


def _timeline(vm: VirtualMachine, demo: DemoVm, *, users: dict, now: datetime) -> None:
    requested = now - demo.requested_ago
    started = requested + (HOUR if demo.approver else 5 * timedelta(minutes=1))
    first = State.PENDING_APPROVAL if demo.gpu == "H100" else State.APPROVED
    request = N_("Requested %(gpus)d× %(model)s on %(instance_type)s")
    lines = [
        (
            requested,
            Event.Kind.REQUEST,
            users[demo.owner],
            request,
            {"state": first, "gpus": vm.gpu_count, "model": demo.gpu, "instance_type": demo.instance_type},
        )
    ]
    if demo.approver:
        lines.append(
            (
                requested + HOUR - timedelta(minutes=2),
                Event.Kind.DECISION,
                users[demo.approver],
                N_("Approved"),
                {"state": State.APPROVED},
            )
        )
    if demo.state in (State.RUNNING, State.STOPPED, State.FAILED):
        lines.append((started - timedelta(minutes=1), Event.Kind.STATE, None, "", {"state": State.PROVISIONING}))
    if demo.state in (State.RUNNING, State.STOPPED):
        lines.append((started, Event.Kind.STATE, None, "", {"state": State.RUNNING}))
    if demo.state == State.STOPPED:
        lines.append(
            (
                now - demo.since_ago - timedelta(minutes=1),
                Event.Kind.STATE,
                users[demo.owner],
                "",
                {"state": State.STOPPING},
            )
        )
        lines.append((now - demo.since_ago, Event.Kind.STATE, None, "", {"state": State.STOPPED}))
    if demo.state == State.FAILED:
        lines.append((now - demo.since_ago, Event.Kind.STATE, None, "", {"state": State.FAILED}))
    for when, kind, actor, message, data in lines:
        event = Event.objects.create(
            kind=kind,
            vm=vm,
            team=vm.team,
            target=str(vm),
            actor=actor,
            message=message,
            reason=demo.failure
            if data.get("state") == State.FAILED
            else (demo.justification if kind == Event.Kind.REQUEST else ""),
            data=data,
        )
        Event.objects.filter(pk=event.pk).update(created_at=when)


def demo_cluster_apply(*, gateway: ClusterGateway) -> int:
    """Creates the objects of the running and stopped demo VMs (halted for a stopped one), as
    provisioning would have; objects already there are left as they are. Returns how many it
    created."""
    names = {(demo.team, demo.name) for demo in DEMO_VMS if demo.state in (State.RUNNING, State.STOPPED)}
    catalogue = catalogue_from_db(offered_only=False)
    created = 0
    for vm in VirtualMachine.objects.filter(state__in=(State.RUNNING, State.STOPPED)).select_related("team"):
        if (vm.team.name, vm.name) not in names:
            continue
        for obj in render_manifests(
            vm_spec(vm),
            catalogue=catalogue,
            namespace=vm.namespace,
            vm_id=vm.pk,
            api_shape=vm.api_shape,
            running=vm.state == State.RUNNING,
        ):
            try:
                gateway.create(obj)
            except ClusterError as error:
                if not error.already_exists:
                    raise
            else:
                created += 1
    return created


# What each GPU model's exporter reports as modelName, and its power curve (idle W, W per % load).
GPU_PROFILES = {
    "H100": ("NVIDIA H100 NVL", 70, 3.3, 95830),
    "A100": ("NVIDIA A100 80GB PCIe", 45, 2.5, 81920),
    "L40S": ("NVIDIA L40S", 35, 3.1, 46068),
}


# The backfill's own scrape target name. Queries group a GPU's series by UUID, so history and live
# samples still count as one GPU; a distinct target keeps them apart in storage, where a later
# run's backfill of the hours a previous `make run` scraped live would otherwise interleave with
# those samples in one series.
HISTORY_INSTANCE = "demo-history"


def live_gpu_uuid(namespace: str, vm: str, index: int) -> str:
    """The UUID the development cluster's exporter gives this GPU (devcluster.exporters.gpu_uuid,
    which a test keeps equal), so that the backfilled history and the live series are one series
    per GPU: with the same labels, charts and the fleet see one GPU, not two."""
    key = f"{namespace}/{vm}"
    uuid_hex = f"{zlib.crc32(f'{key}/{index}'.encode()):08x}{zlib.crc32(key.encode()):08x}"
    return f"GPU-{uuid_hex[:8]}-{uuid_hex[8:12]}-{uuid_hex[12:16]}-{uuid_hex[:4]}-{uuid_hex[4:16]}"


# Utilisation, power and energy cover the week; memory, temperature, clocks and profiling ratios
# the last day, which keeps the first `make run`'s backfill to seconds.
DETAIL_SECONDS = 86400


def demo_history(vms: list[VirtualMachine], *, now: float, since: float | None = None) -> history.Fleet | None:
    """A week of DCGM series (or since `since`, a previous backfill's end) for the demo VMs
    that ran, ending a minute before now; None when there is nothing new to write."""
    fleet = history.Fleet(end_grid=int(now // history.SCRAPE) * history.SCRAPE - 60)
    start = fleet.end_grid - 7 * 86400 if since is None else max(since, fleet.end_grid - 7 * 86400)
    rng = random.Random(20261201)  # noqa: S311 (telemetry that looks the same at every run)
    workloads = {(demo.team, demo.name): demo for demo in DEMO_VMS if demo.workload}
    for vm in vms:
        demo = workloads.get((vm.team.name, vm.name))
        if demo is None:
            continue
        ran_from = now - demo.requested_ago.total_seconds()
        ran_until = now if vm.state == State.RUNNING else now - demo.since_ago.total_seconds()
        grid = [t for t in fleet.grid(7 * 86400) if t > start and ran_from <= t <= ran_until]
        if not grid:
            continue
        model, idle_watts, watts_per_percent, memory_mib = GPU_PROFILES[demo.gpu]
        for index in range(vm.gpu_count):
            gpu = history.Gpu(
                vm.namespace,
                vm.name,
                index=index,
                uuid=live_gpu_uuid(vm.namespace, vm.name, index),
                model=model,
                total_mib=memory_mib,
                dcp=True,
                instance=HISTORY_INSTANCE,
                hostname=vm_object_names(vm).kubevirt_vm,
            )
            if demo.workload == "training":
                # Its checkpoint dips fall on the half hours, so the latest sample shows it busy.
                util = history.training_util(rng, grid, fleet.end_grid + 3600)
            elif demo.workload == "inference":
                util = history.daily_util(rng, grid)
            else:
                util = history.idle_util(rng, grid)
            history.add_gpu(
                fleet,
                rng,
                gpu,
                util_grid=grid,
                util=util,
                idle_watts=idle_watts,
                watts_per_percent=watts_per_percent,
                power_grid=grid,
                detail_span=DETAIL_SECONDS,
                fb_used_mib={"training": 0.8, "inference": 0.4, "idle": 0.0}[demo.workload] * memory_mib,
            )
            history.add_up(fleet, gpu, [(t, 1.0) for t in grid if t > fleet.end_grid - DETAIL_SECONDS])
    return fleet if fleet.series else None
