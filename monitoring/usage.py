"""The GPU-hours report: GPUs held, per VM, team and month, from the state timeline, and what
Prometheus says they did meanwhile."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring import promql
from monitoring.prometheus import PrometheusError, PrometheusGateway
from monitoring.telemetry import HOUR, fleet_values, gateway_or_default, prometheus_error_text
from vms import access, states
from vms.models import Event


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
        access.managed_vms(user)
        .filter(gpu_count__gt=0, created_at__lt=end)
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
        gateway = gateway_or_default(gateway)
        window = max(int((until - start).total_seconds()), 1)
        try:
            used_by_vm = fleet_values(
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
