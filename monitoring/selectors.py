"""Reads the monitoring pages share: GPU figures from Prometheus joined with the portal's own
records. Every function costs a fixed number of SQL and Prometheus queries, whatever the
number of VMs: figures for many VMs come from one fleet-wide query each, matched to VMs by
their (namespace, name) labels."""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import yaml
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring import promql
from monitoring.models import IdleStatus
from monitoring.prometheus import NOT_CONFIGURED, PrometheusError, PrometheusGateway, Series
from vms import access, states
from vms.catalogue import seed
from vms.models import Event, VirtualMachine

DAY = 86400
WEEK = 7 * DAY
HOUR = 3600

# What the GPU page says about a VM's telemetry, from one `up` query.
OK = "ok"
EXPORTER_DOWN = "exporter_down"
NOT_INSTALLED = "not_installed"
PROMETHEUS_FAILED = "prometheus_failed"


def _gateway(gateway: PrometheusGateway | None) -> PrometheusGateway:
    return gateway if gateway is not None else PrometheusGateway()


def _values_by_vm(series: list[Series], labels: promql.LabelNames) -> dict[tuple[str, str], float]:
    values = {}
    for item in series:
        value = item.points[0][1] if item.points else math.nan
        if math.isfinite(value):
            values[(item.labels.get(labels.namespace, ""), item.labels.get(labels.vm, ""))] = value
    return values


def _fleet_values(gateway: PrometheusGateway, query: str, *, at: datetime | None = None):
    return _values_by_vm(gateway.instant(query, at=at), gateway.config.labels)


def utilisation_by_vm(
    vms, *, window_seconds: int, at: datetime | None = None, gateway: PrometheusGateway | None = None
) -> dict[int, float | None]:
    """Mean GPU utilisation (0-100 %, garbage samples dropped) of each VM over the last
    `window_seconds` (before `at`, default now), keyed by VM id; None where Prometheus has no
    data for the VM.

    One Prometheus query for any number of VMs. Pass VMs with their team loaded
    (select_related("team")): the namespace comes from it. Raises PrometheusError (see its
    `kind` and `message`) when Prometheus is not configured or does not answer."""
    vms = list(vms)
    if not vms:
        return {}
    gateway = _gateway(gateway)
    values = _fleet_values(
        gateway,
        promql.fleet_utilisation_average(
            window_seconds=window_seconds,
            labels=gateway.config.labels,
            scrape_interval=gateway.config.scrape_interval_seconds,
        ),
        at=at,
    )
    return {vm.pk: values.get((vm.namespace, vm.name)) for vm in vms}


# --- One VM's GPU page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Telemetry:
    state: str
    message: str = ""

    @property
    def charts(self) -> bool:
        """Whether panels are worth asking for: Prometheus answered and has, or had, the VM."""
        return self.state in (OK, EXPORTER_DOWN)


def vm_telemetry(vm: VirtualMachine, *, gateway: PrometheusGateway | None = None) -> Telemetry:
    """Whether the VM's exporter is scraped, down or was never seen, in words. One query."""
    gateway = _gateway(gateway)
    config = gateway.config
    try:
        series = gateway.instant(
            promql.exporter_up(namespace=vm.namespace, vm=vm.name, job=config.exporter_job, labels=config.labels)
        )
    except PrometheusError as error:
        return Telemetry(PROMETHEUS_FAILED, prometheus_error_text(error))
    if not series:
        return Telemetry(NOT_INSTALLED)
    if series[0].points[0][1] < 1:
        return Telemetry(EXPORTER_DOWN)
    return Telemetry(OK)


def prometheus_error_text(error: PrometheusError) -> str:
    if error.kind == NOT_CONFIGURED:
        return _("GPU metrics are not available: this portal has no Prometheus configured (PROMETHEUS_URL).")
    return _("GPU metrics are unavailable right now: %(detail)s.") % {"detail": error.message}


def exporter_block() -> dict:
    """The cloud-init software block that installs the DCGM exporter, as the page offers it."""
    block = next(block for block in seed.SOFTWARE_BLOCKS if block["slug"] == "dcgm-exporter")
    requires = [other["title"] for other in seed.SOFTWARE_BLOCKS if other["slug"] in block["requires"]]
    return {
        "slug": block["slug"],
        "title": _(block["title"]),
        "description": _(block["description"]),
        "requires": [_(title) for title in requires],
        "cloud_config": "#cloud-config\n" + yaml.safe_dump(block["cloud_config"], sort_keys=False, width=200),
    }


def vm_energy_kwh(
    vm: VirtualMachine, *, start: datetime, end: datetime, gateway: PrometheusGateway | None = None
) -> float | None:
    """Energy the VM's GPUs consumed between start and end, in kWh (None: no data). One query.

    Raises PrometheusError."""
    gateway = _gateway(gateway)
    window = max(int((end - start).total_seconds()), 1)
    series = gateway.instant(
        promql.energy_kwh(namespace=vm.namespace, vm=vm.name, window_seconds=window, labels=gateway.config.labels),
        at=end,
    )
    if not series or not math.isfinite(series[0].points[0][1]):
        return None
    return series[0].points[0][1]


# --- Idle policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdlePolicy:
    threshold_percent: float
    warn_after_hours: int
    stop_after_hours: int

    @property
    def window_seconds(self) -> int:
        return self.warn_after_hours * HOUR

    def is_idle(self, vm: VirtualMachine, average: float | None, *, now: datetime) -> bool | None:
        """Idle means: running for the whole window and its GPUs averaged below the threshold.
        None when unknown (no measurements: an exporter that was never installed is not idle)."""
        if vm.state != VirtualMachine.State.RUNNING or average is None:
            return None
        if vm.state_changed_at > now - timedelta(seconds=self.window_seconds):
            return False
        return average < self.threshold_percent


def idle_policy() -> IdlePolicy:
    return IdlePolicy(
        threshold_percent=settings.IDLE_GPU_THRESHOLD_PERCENT,
        warn_after_hours=settings.IDLE_GPU_WARN_AFTER_HOURS,
        stop_after_hours=settings.IDLE_GPU_STOP_AFTER_HOURS,
    )


def idle_banner(vm: VirtualMachine) -> IdleStatus | None:
    """The VM's idle warning while it stands (what its pages show as a banner). One query."""
    return IdleStatus.objects.filter(vm=vm, warned_at__isnull=False).first()


# --- Fleet ---------------------------------------------------------------------------------------


@dataclass
class FleetRow:
    vm: VirtualMachine
    avg_24h: float | None = None
    max_24h: float | None = None
    avg_7d: float | None = None
    max_7d: float | None = None
    memory_percent: float | None = None
    power_watts: float | None = None
    idle: bool | None = None

    @property
    def idle_text(self) -> str:
        return {True: _("idle"), False: _("busy"), None: _("unknown")}[self.idle]


FLEET_COLUMNS = (
    "name",
    "team",
    "owner",
    "gpu_model",
    "gpus",
    "avg_24h",
    "max_24h",
    "avg_7d",
    "max_7d",
    "memory_percent",
    "power_watts",
    "idle",
)
_SORT_KEYS = {
    "name": lambda row: row.vm.name,
    "team": lambda row: row.vm.team.name,
    "owner": lambda row: row.vm.owner.username,
    "gpu_model": lambda row: row.vm.gpu_model.slug,
    "gpus": lambda row: row.vm.gpu_count,
}


def fleet_rows(
    user,
    *,
    team_ids: list[int] | None = None,
    sort: str = "name",
    descending: bool = False,
    now: datetime | None = None,
    gateway: PrometheusGateway | None = None,
) -> tuple[list[FleetRow], str]:
    """Every running GPU VM of the teams the user manages, with its utilisation figures, and
    what went wrong with Prometheus ("" when nothing did). One SQL query and a fixed number of
    Prometheus queries, whatever the number of VMs."""
    now = now or timezone.now()
    teams = access.managed_teams(user)
    if team_ids:
        teams = teams.filter(pk__in=team_ids)
    vms = list(
        VirtualMachine.objects.filter(
            team__in=teams.values("pk"), state=VirtualMachine.State.RUNNING, gpu_count__gt=0
        ).select_related("team", "owner", "gpu_model")
    )
    rows = [FleetRow(vm=vm) for vm in vms]
    problem = ""
    if rows:
        try:
            _fill_fleet_figures(rows, _gateway(gateway), now=now)
        except PrometheusError as error:
            problem = prometheus_error_text(error)
    sort = sort if sort in FLEET_COLUMNS else "name"
    key = _SORT_KEYS.get(sort) or (lambda row: getattr(row, sort))
    return _sorted(rows, key, descending), problem


def _sorted(rows: list, key, descending: bool) -> list:
    """Sorted by `key`, rows without a figure last in either direction."""
    known = [row for row in rows if key(row) is not None]
    unknown = [row for row in rows if key(row) is None]
    return sorted(known, key=key, reverse=descending) + unknown


def _fill_fleet_figures(rows: list[FleetRow], gateway: PrometheusGateway, *, now: datetime):
    config = gateway.config
    common = {"labels": config.labels, "scrape_interval": config.scrape_interval_seconds}
    policy = idle_policy()
    queries = {
        "avg_24h": promql.fleet_utilisation_average(window_seconds=DAY, **common),
        "max_24h": promql.fleet_utilisation_maximum(window_seconds=DAY, **common),
        "avg_7d": promql.fleet_utilisation_average(window_seconds=WEEK, **common),
        "max_7d": promql.fleet_utilisation_maximum(window_seconds=WEEK, **common),
        "memory_percent": promql.fleet_memory_used_percent(window_seconds=HOUR, **common),
        "power_watts": promql.fleet_power_watts(
            window_seconds=HOUR, labels=config.labels, scrape_interval=config.scrape_interval_seconds
        ),
        "idle_average": promql.fleet_utilisation_average(window_seconds=policy.window_seconds, **common),
    }
    # The idle window is often 24 h: the same query text is asked once.
    answers: dict[str, dict] = {}
    figures = {}
    for name, query in queries.items():
        if query not in answers:
            answers[query] = _fleet_values(gateway, query, at=now)
        figures[name] = answers[query]
    for row in rows:
        key = (row.vm.namespace, row.vm.name)
        for name in ("avg_24h", "max_24h", "avg_7d", "max_7d", "memory_percent", "power_watts"):
            setattr(row, name, figures[name].get(key))
        row.idle = policy.is_idle(row.vm, figures["idle_average"].get(key), now=now)


# --- GPU-hours -----------------------------------------------------------------------------------


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """First instant of the month and of the next one, in the portal's time zone."""
    tz = timezone.get_current_timezone()
    start = datetime(year, month, 1, tzinfo=tz)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, following


def held_seconds(timeline: list[tuple[datetime, str]], *, start: datetime, end: datetime) -> float:
    """Seconds within [start, end) the VM spent in a GPU-holding state, from its state changes
    (oldest first). Before its first known change a VM holds nothing (it was being requested)."""
    total = 0.0
    for position, (since, state) in enumerate(timeline):
        until = timeline[position + 1][0] if position + 1 < len(timeline) else end
        if state in states.GPU_HOLDING_STATES:
            low, high = max(since, start), min(until, end)
            if high > low:
                total += (high - low).total_seconds()
    return total


@dataclass
class UsageRow:
    key: str
    label: str
    team: str = ""
    owner: str = ""
    gpu_model: str = ""
    gpus: int | None = None
    held_hours: float = 0.0
    used_hours: float | None = None
    vm_count: int = 0

    @property
    def used_percent(self) -> float | None:
        if self.used_hours is None or not self.held_hours:
            return None
        return 100 * self.used_hours / self.held_hours


@dataclass
class GpuHoursReport:
    start: datetime
    end: datetime
    vms: list[UsageRow] = field(default_factory=list)
    users: list[UsageRow] = field(default_factory=list)
    teams: list[UsageRow] = field(default_factory=list)
    total: UsageRow | None = None
    problem: str = ""


def gpu_hours(
    user, *, start: datetime, end: datetime, now: datetime | None = None, gateway: PrometheusGateway | None = None
) -> GpuHoursReport:
    """GPU-hours held and used between start and end, per VM, owner and team, for the teams
    the user manages.

    Held = GPU count x time spent in states.GPU_HOLDING_STATES (provisioning, running,
    starting, stopping): KubeVirt has the GPUs allocated in all of them, so nobody else can use
    them, whether or not the guest does. The VM's current GPU count counts for the whole period.
    Used = GPU-hours weighted by measured utilisation (promql.fleet_gpu_hours_used); None when
    Prometheus has no data for the VM. Two SQL queries and one Prometheus query."""
    now = now or timezone.now()
    until = min(end, now)
    vms = list(
        VirtualMachine.objects.filter(
            team__in=access.managed_teams(user).values("pk"), gpu_count__gt=0, created_at__lt=end
        )
        .filter(Q(state_changed_at__gte=start) | Q(state__in=states.GPU_HOLDING_STATES))
        .select_related("team", "owner", "gpu_model")
        .order_by("team__name", "name", "pk")
    )
    timelines: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for vm_id, created_at, data in (
        Event.objects.filter(vm__in=[vm.pk for vm in vms], kind=Event.Kind.STATE, created_at__lt=until)
        .order_by("created_at", "pk")
        .values_list("vm_id", "created_at", "data")
    ):
        timelines[vm_id].append((created_at, data.get("state", "")))

    report = GpuHoursReport(start=start, end=end)
    used_by_vm: dict[tuple[str, str], float] = {}
    if vms and until > start:
        gateway = _gateway(gateway)
        window = max(int((until - start).total_seconds()), 1)
        try:
            used_by_vm = _fleet_values(
                gateway,
                promql.fleet_gpu_hours_used(
                    window_seconds=window,
                    labels=gateway.config.labels,
                    scrape_interval=gateway.config.scrape_interval_seconds,
                ),
                at=until,
            )
        except PrometheusError as error:
            report.problem = prometheus_error_text(error)

    users: dict[int, UsageRow] = {}
    teams: dict[int, UsageRow] = {}
    report.total = UsageRow(key="total", label=_("All"))
    for vm in vms:
        timeline = timelines.get(vm.pk, [])
        # The VM row is the truth about where it stands now, should its last event be missing.
        if not timeline or timeline[-1][1] != vm.state:
            timeline = [*timeline, (vm.state_changed_at, vm.state)]
        held = vm.gpu_count * held_seconds(timeline, start=start, end=until) / HOUR
        used = used_by_vm.get((vm.namespace, vm.name)) if not report.problem else None
        if not held and used is None:
            continue
        owner = vm.owner.get_full_name() or vm.owner.username
        row = UsageRow(
            key=str(vm.pk),
            label=vm.name,
            team=vm.team.name,
            owner=owner,
            gpu_model=vm.gpu_model.slug,
            gpus=vm.gpu_count,
            held_hours=held,
            used_hours=used,
            vm_count=1,
        )
        report.vms.append(row)
        for group, key, label in ((users, vm.owner_id, owner), (teams, vm.team_id, vm.team.name)):
            if key not in group:
                group[key] = UsageRow(key=str(key), label=label, used_hours=None)
            _add(group[key], row)
        _add(report.total, row)
    report.users = sorted(users.values(), key=lambda row: row.label)
    report.teams = sorted(teams.values(), key=lambda row: row.label)
    return report


def _add(total: UsageRow, row: UsageRow):
    total.held_hours += row.held_hours
    total.vm_count += 1
    if row.used_hours is not None:
        total.used_hours = (total.used_hours or 0.0) + row.used_hours
