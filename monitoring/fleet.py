"""The fleet view: every running VM a manager or an admin may see, with its GPU figures, a page
at a time.

The figures are computed for the whole fleet by a periodic task (one Prometheus query per
figure, sent together) and stored (VmFigures): pages read them with the VMs, sort and page
them in SQL, and never wait for Prometheus. They say how old the figures are, and that they
are pending when the task has not succeeded lately."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from hikube_portal.fragments import row_values
from monitoring import promql
from monitoring.models import FiguresRefresh, VmFigures
from monitoring.prometheus import TIMEOUT, PrometheusError, PrometheusGateway
from monitoring.telemetry import DAY, HOUR, WEEK, fleet_values, gateway_or_default, idle_policy
from vms import access
from vms.catalogue.loading import with_catalogue
from vms.models import Team, VirtualMachine, name_columns


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


FIGURES = ("avg_24h", "max_24h", "avg_7d", "max_7d", "memory_percent", "power_watts")
# One page of a list, as the VM list: what a page renders does not grow with the fleet.
FLEET_PAGE_SIZE = 25
SORT_FIELDS = {
    "name": "name",
    "team": "team__name",
    "owner": "owner__username",
    "gpu_model": "gpu_model__slug",
    "gpus": "gpu_count",
    **{name: f"figures__{name}" for name in FIGURES},
    "idle": "idle",
}
REFRESH_ROW = 1


# --- Computing the figures (the periodic task) ----------------------------------------------


def fleet_figures_refresh(*, now: datetime | None = None, gateway: PrometheusGateway | None = None) -> int:
    """Computes every running GPU VM's figures and stores them; returns how many. The queries
    (one per figure, for the whole fleet) go out together and must all answer within
    FLEET_FIGURES_BUDGET_SECONDS. When Prometheus fails, the problem is recorded and the
    previous figures stay, with their time."""
    now = now or timezone.now()
    try:
        by_figure = _fleet_answers(gateway_or_default(gateway), now=now)
    except PrometheusError as error:
        FiguresRefresh.objects.update_or_create(
            pk=REFRESH_ROW, defaults={"finished_at": timezone.now(), "problem": error.message}
        )
        raise
    running = VirtualMachine.objects.filter(state=VirtualMachine.State.RUNNING, gpu_count__gt=0)
    rows = []
    for pk, vm_name, team_name in running.values_list("pk", "name", "team__name").iterator(chunk_size=2000):
        key = (Team(name=team_name).namespace, vm_name)
        rows.append(
            VmFigures(vm_id=pk, computed_at=now, **{name: values.get(key) for name, values in by_figure.items()})
        )
    with transaction.atomic():
        VmFigures.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["vm"],
            update_fields=[*FIGURES, "idle_average", "computed_at"],
        )
        FiguresRefresh.objects.update_or_create(pk=REFRESH_ROW, defaults={"finished_at": timezone.now(), "problem": ""})
    return len(rows)


def _fleet_answers(gateway: PrometheusGateway, *, now: datetime) -> dict[str, dict[tuple[str, str], float]]:
    config = gateway.config
    common = {"labels": config.labels, "scrape_interval": config.scrape_interval_seconds}
    queries = {
        "avg_24h": promql.fleet_utilisation_average(window_seconds=DAY, **common),
        "max_24h": promql.fleet_utilisation_maximum(window_seconds=DAY, **common),
        "avg_7d": promql.fleet_utilisation_average(window_seconds=WEEK, **common),
        "max_7d": promql.fleet_utilisation_maximum(window_seconds=WEEK, **common),
        "memory_percent": promql.fleet_memory_used_percent(window_seconds=HOUR, **common),
        "power_watts": promql.fleet_power_watts(
            window_seconds=HOUR, labels=config.labels, scrape_interval=config.scrape_interval_seconds
        ),
        "idle_average": promql.fleet_utilisation_average(window_seconds=idle_policy().window_seconds, **common),
    }
    # The idle window is often 24 h: the same query text is asked once.
    distinct = sorted(set(queries.values()))
    budget = settings.FLEET_FIGURES_BUDGET_SECONDS
    pool = ThreadPoolExecutor(max_workers=len(distinct), thread_name_prefix="fleet-figures")
    try:
        futures = {query: pool.submit(fleet_values, gateway, query, at=now) for query in distinct}
        late = wait(futures.values(), timeout=budget).not_done
        if late:
            message = f"{len(late)} of {len(distinct)} fleet queries took longer than {budget:g} s"
            raise PrometheusError(message, kind=TIMEOUT, retryable=True)
        answers = {query: future.result() for query, future in futures.items()}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: answers[query] for name, query in queries.items()}


# --- Reading them (the pages) ---------------------------------------------------------------


@dataclass(frozen=True)
class FiguresState:
    """How fresh the stored figures are: `pending` when none were computed recently."""

    finished_at: datetime | None
    problem: str
    pending: bool


def figures_state(*, now: datetime | None = None) -> FiguresState:
    now = now or timezone.now()
    refresh = FiguresRefresh.objects.filter(pk=REFRESH_ROW).first()
    if refresh is None:
        return FiguresState(finished_at=None, problem="", pending=True)
    stale = refresh.finished_at < now - timedelta(seconds=3 * settings.FLEET_FIGURES_INTERVAL_SECONDS)
    return FiguresState(
        finished_at=refresh.finished_at, problem=refresh.problem, pending=stale or bool(refresh.problem)
    )


def figures_of(vm_ids) -> dict[int, VmFigures]:
    """The stored figures of these VMs, by id (one query)."""
    return VmFigures.objects.in_bulk(list(vm_ids))


def fleet_vms(user, *, team_ids: list[int] | None = None):
    """The running GPU VMs of the teams the user manages (all teams for admins); `fleet_rows_of`
    adds what a row shows."""
    vms = access.managed_vms(user).filter(state=VirtualMachine.State.RUNNING, gpu_count__gt=0)
    return vms.filter(team_id__in=team_ids) if team_ids else vms


def _with_idle(vms, now: datetime | None):
    return vms.annotate(idle=idle_policy().is_idle_expression("figures__idle_average", now=now or timezone.now()))


# What a row shows (templates/monitoring/fleet.html, the CSV): a VM's spec and JSON stay in the database.
FLEET_ROW_FIELDS = (
    "name",
    "gpu_count",
    *name_columns("team", person=False),
    *name_columns("owner", person=True),
    *(f"figures__{name}" for name in FIGURES),
)


def fleet_rows_of(vms, *, now: datetime | None = None):
    """`vms` with their team, owner, figures and whether they are idle."""
    return with_catalogue(_with_idle(vms, now), fields=FLEET_ROW_FIELDS)


def _ordered(vms, sort: str, descending: bool):
    field = F(SORT_FIELDS.get(sort, "name"))
    # Rows without a figure last, whichever the direction.
    return vms.order_by(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True), "pk")


def fleet_row(vm: VirtualMachine) -> FleetRow:
    try:
        figures = vm.figures
    except VmFigures.DoesNotExist:
        return FleetRow(vm=vm, idle=vm.idle)
    return FleetRow(vm=vm, idle=vm.idle, **{name: getattr(figures, name) for name in FIGURES})


def fleet_page(user, *, team_ids=None, sort: str = "name", descending: bool = False, page=1, now=None):
    """One page of the fleet (FLEET_PAGE_SIZE rows), sorted and paged by the database: the page,
    whose rows are their values (hikube_portal.fragments.row_values), and the queryset that reads
    them whole (fleet_row makes a row of each)."""
    fleet = fleet_vms(user, team_ids=team_ids)
    # The database sorts the ids alone, then reads the page's rows: sorting every running VM
    # whole, joined to its team, owner and figures, took 18 ms at 8,000 of them.
    ids = _ordered(_with_idle(fleet, now) if sort == "idle" else fleet, sort, descending).values_list("pk", flat=True)
    page = Paginator(ids, FLEET_PAGE_SIZE).get_page(page)
    rows = fleet_rows_of(fleet, now=now)
    found = {row["pk"]: row for row in row_values(rows.filter(pk__in=list(page.object_list)))}
    # A VM that stopped between the two reads leaves the page.
    page.object_list = [found[pk] for pk in page.object_list if pk in found]
    return page, rows


def fleet_rows(user, *, team_ids=None, sort: str = "name", descending: bool = False, now=None) -> Iterator[FleetRow]:
    """Every row in the page's order, read in chunks (the CSV export streams them)."""
    vms = _ordered(fleet_rows_of(fleet_vms(user, team_ids=team_ids), now=now), sort, descending)
    return (fleet_row(vm) for vm in vms.iterator(chunk_size=2000))
