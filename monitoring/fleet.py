"""The fleet view: every running VM a manager or an admin may see, with its GPU figures (one
Prometheus query per figure for the whole fleet)."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring import promql
from monitoring.prometheus import PrometheusError, PrometheusGateway
from monitoring.telemetry import DAY, HOUR, WEEK, fleet_values, gateway_or_default, idle_policy, prometheus_error_text
from vms import access
from vms.models import VirtualMachine


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
            _fill_fleet_figures(rows, gateway_or_default(gateway), now=now)
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
            answers[query] = fleet_values(gateway, query, at=now)
        figures[name] = answers[query]
    for row in rows:
        key = (row.vm.namespace, row.vm.name)
        for name in ("avg_24h", "max_24h", "avg_7d", "max_7d", "memory_percent", "power_watts"):
            setattr(row, name, figures[name].get(key))
        row.idle = policy.is_idle(row.vm, figures["idle_average"].get(key), now=now)
