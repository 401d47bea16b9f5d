"""The fleet view: every running VM a manager or an admin may see, with its GPU figures (one
Prometheus query per figure for the whole fleet), a page at a time."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring import promql
from monitoring.prometheus import PrometheusError, PrometheusGateway
from monitoring.telemetry import (
    DAY,
    HOUR,
    WEEK,
    IdlePolicy,
    fleet_values,
    gateway_or_default,
    idle_policy,
    prometheus_error_text,
)
from vms import access
from vms.models import Team, VirtualMachine


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


FIGURES = ("avg_24h", "max_24h", "avg_7d", "max_7d", "memory_percent", "power_watts")
FLEET_PAGE_SIZE = 50
# Columns sorted by the database; the figures (and idle) come from Prometheus and are sorted here.
_SQL_ORDER = {
    "name": "name",
    "team": "team__name",
    "owner": "owner__username",
    "gpu_model": "gpu_model__slug",
    "gpus": "gpu_count",
}
_CHUNK = 1000


@dataclass
class FleetFigures:
    """Prometheus' fleet-wide answers, by (namespace, VM name): one query per figure, whatever
    the number of VMs."""

    by_figure: dict[str, dict[tuple[str, str], float]]
    idle_average: dict[tuple[str, str], float]
    policy: IdlePolicy | None
    now: datetime | None

    def idle(self, vm: VirtualMachine, key: tuple[str, str]) -> bool | None:
        if self.policy is None:
            return None
        return self.policy.is_idle(vm, self.idle_average.get(key), now=self.now)

    def row(self, vm: VirtualMachine) -> FleetRow:
        key = (vm.namespace, vm.name)
        return FleetRow(vm=vm, idle=self.idle(vm, key), **{name: self.by_figure[name].get(key) for name in FIGURES})


NO_FIGURES = FleetFigures(by_figure={name: {} for name in FIGURES}, idle_average={}, policy=None, now=None)


def fleet_vms(user, *, team_ids: list[int] | None = None):
    """The running GPU VMs of the teams the user manages (all teams for admins)."""
    teams = access.managed_teams(user)
    if team_ids:
        teams = teams.filter(pk__in=team_ids)
    return VirtualMachine.objects.filter(
        team__in=teams.values("pk"), state=VirtualMachine.State.RUNNING, gpu_count__gt=0
    ).select_related("team", "owner", "gpu_model")


def fleet_figures(*, now: datetime | None = None, gateway: PrometheusGateway | None = None):
    """The figures of every VM, and what went wrong with Prometheus ("" when nothing did)."""
    now = now or timezone.now()
    try:
        return _fleet_figures(gateway_or_default(gateway), now=now), ""
    except PrometheusError as error:
        return NO_FIGURES, prometheus_error_text(error)


def fleet_page(
    user,
    *,
    team_ids: list[int] | None = None,
    sort: str = "name",
    descending: bool = False,
    page: int | str | None = 1,
    now: datetime | None = None,
    gateway: PrometheusGateway | None = None,
):
    """One page of the fleet (FLEET_PAGE_SIZE rows), sorted; and the Prometheus problem.

    Sorted by a VM's own field, the database sorts and pages; sorted by a figure, only the VMs'
    ids and keys are sorted here, and one page of VMs is loaded. Either way a page costs a
    fixed number of SQL and Prometheus queries and renders one page of rows."""
    vms = fleet_vms(user, team_ids=team_ids)
    if not vms.exists():
        return Paginator([], FLEET_PAGE_SIZE).get_page(1), ""
    figures, problem = fleet_figures(now=now, gateway=gateway)
    sort = sort if sort in FLEET_COLUMNS else "name"
    if sort in _SQL_ORDER:
        ordered = vms.order_by(("-" if descending else "") + _SQL_ORDER[sort], "pk")
        result = Paginator(ordered, FLEET_PAGE_SIZE).get_page(page)
        result.object_list = [figures.row(vm) for vm in result.object_list]
        return result, problem
    result = Paginator(_ids_by_figure(vms, figures, sort, descending), FLEET_PAGE_SIZE).get_page(page)
    loaded = vms.in_bulk(result.object_list)
    result.object_list = [figures.row(loaded[pk]) for pk in result.object_list]
    return result, problem


def fleet_rows(user, *, team_ids=None, sort="name", descending=False, now=None, gateway=None) -> Iterator[FleetRow]:
    """Every row in the page's order, read in chunks (the CSV export streams them)."""
    vms = fleet_vms(user, team_ids=team_ids)
    figures, _problem = fleet_figures(now=now, gateway=gateway)
    sort = sort if sort in FLEET_COLUMNS else "name"
    if sort in _SQL_ORDER:
        ordered = vms.order_by(("-" if descending else "") + _SQL_ORDER[sort], "pk")
        for vm in ordered.iterator(chunk_size=_CHUNK):
            yield figures.row(vm)
        return
    ids = _ids_by_figure(vms, figures, sort, descending)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        loaded = vms.in_bulk(chunk)
        yield from (figures.row(loaded[pk]) for pk in chunk)


def _ids_by_figure(vms, figures: FleetFigures, sort: str, descending: bool) -> list[int]:
    """The VMs' ids sorted by a figure, VMs without one last either way (ties by name)."""
    keyed = []
    for pk, name, team_name, state, state_changed_at in vms.values_list(
        "pk", "name", "team__name", "state", "state_changed_at"
    ).order_by("name", "pk"):
        key = (Team(name=team_name).namespace, name)
        if sort == "idle":
            vm = VirtualMachine(state=state, state_changed_at=state_changed_at)
            value = (
                figures.policy.is_idle(vm, figures.idle_average.get(key), now=figures.now) if figures.policy else None
            )
        else:
            value = figures.by_figure[sort].get(key)
        keyed.append((pk, value))
    known = sorted((item for item in keyed if item[1] is not None), key=lambda item: item[1], reverse=descending)
    return [pk for pk, _ in known] + [pk for pk, value in keyed if value is None]


def _fleet_figures(gateway: PrometheusGateway, *, now: datetime) -> FleetFigures:
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
    for query in queries.values():
        if query not in answers:
            answers[query] = fleet_values(gateway, query, at=now)
    by_figure = {name: answers[queries[name]] for name in FIGURES}
    return FleetFigures(by_figure=by_figure, idle_average=answers[queries["idle_average"]], policy=policy, now=now)
