"""Reads that several views share. Each returns a queryset with what its pages display
already joined, so a page issues the same number of queries whatever the number of VMs."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext

from vms import states
from vms.access import is_own_request, visible_vms
from vms.catalogue.loading import catalogue_attacher, catalogue_rows, with_catalogue
from vms.governance.capacity import CapacityReading, FreeGpus
from vms.models import ChangeRequest, Quota, VirtualMachine, name_columns
from vms.states import LEASE_STOPPABLE_STATES


def vm_list(
    *,
    user,
    team_id: int | None = None,
    state: str | None = None,
    gpu_model_id: int | None = None,
    mine: bool = False,
    include_deleted: bool = False,
    name: str | None = None,
    fields: Sequence[str] | None = None,
) -> QuerySet[VirtualMachine]:
    """The VMs `user` may see, newest first; `fields` as with_catalogue's."""
    vms = visible_vms(user)
    vms = with_catalogue(vms.select_related("team", "owner") if fields is None else vms, fields=fields)
    if team_id:
        vms = vms.filter(team_id=team_id)
    if state:
        vms = vms.filter(state=state)
    elif not include_deleted:
        vms = vms.exclude(state__in=states.FINAL_STATES)
    if gpu_model_id:
        vms = vms.filter(gpu_model_id=gpu_model_id)
    if mine:
        vms = vms.filter(owner=user)
    if name:
        vms = vms.filter(name=name)
    return vms.order_by("-created_at", "-id")


def vm_timeline(*, vm: VirtualMachine, limit: int = 50):
    return vm.events.select_related("actor").order_by("-created_at", "-id")[:limit]


def vm_name_taken(*, team, name: str) -> bool:
    """Another VM of the team that is not gone already uses the name (its cluster objects would clash)."""
    return VirtualMachine.objects.filter(team=team, name=name).exclude(state__in=states.FINAL_STATES).exists()


def _committed(*, team_ids) -> QuerySet[VirtualMachine]:
    """The teams' VMs that count against their quotas: every one not rejected or deleted."""
    return VirtualMachine.objects.filter(team_id__in=team_ids).exclude(state__in=states.FINAL_STATES)


def team_gpus_committed(*, team, gpu_model, exclude_vm_id: int | None = None) -> int:
    """GPUs of `gpu_model` the team holds or has asked for (every VM not rejected or deleted)."""
    vms = _committed(team_ids=[team.pk]).filter(gpu_model=gpu_model)
    if exclude_vm_id is not None:
        vms = vms.exclude(pk=exclude_vm_id)
    return vms.aggregate(total=Sum("gpu_count"))["total"] or 0


def gpus_committed(*, team_ids) -> dict[tuple[int, int], int]:
    """{(team id, GPU model id): GPUs held or asked for} for the teams (team_gpus_committed's
    figure for many pairs, in one query)."""
    return {
        (row["team_id"], row["gpu_model_id"]): row["gpus"]
        for row in _committed(team_ids=team_ids).values("team_id", "gpu_model_id").annotate(gpus=Sum("gpu_count"))
    }


def vm_counts_by_state() -> dict[str, int]:
    """How many VMs are in each state (one query)."""
    rows = VirtualMachine.objects.order_by().values_list("state").annotate(count=Count("id"))
    return {state: 0 for state in states.State.values} | dict(rows)


def _waiting() -> QuerySet[VirtualMachine]:
    """Approved requests still to be served: one whose lease ended while it waited is not (its
    owner asks for an extension)."""
    return VirtualMachine.objects.filter(state=VirtualMachine.State.APPROVED).filter(
        Q(lease_ends_at__isnull=True) | Q(lease_ends_at__gt=timezone.now())
    )


def waitlist_lengths() -> dict[str, int]:
    """How many requests the waitlist holds, by GPU model slug (one query)."""
    return dict(_waiting().order_by().values_list("gpu_model__slug").annotate(count=Count("id")))


def waitlist(*, gpu_model) -> QuerySet[VirtualMachine]:
    """Requests waiting for GPUs of the model, first come (first approved) first."""
    return _waiting().filter(gpu_model=gpu_model).order_by("state_changed_at", "id")


@dataclass
class ApprovalItem:
    """One thing an approver decides: a new VM request or a change to a VM."""

    vm: VirtualMachine
    change: "ChangeRequest | None"

    @property
    def requested_by(self):
        return self.change.requested_by if self.change else self.vm.owner

    @property
    def requester(self) -> str:
        return self.requested_by.get_full_name() or self.requested_by.username

    @property
    def created_at(self):
        return self.change.created_at if self.change else self.vm.created_at

    @property
    def justification(self) -> str:
        return self.change.justification if self.change else self.vm.justification

    @property
    def summary(self) -> str:
        if self.change is None:
            return f"{self.vm.name}: {self.vm.gpu_count}× {self.vm.gpu_model.slug} ({self.vm.instance_type.name})"
        end = date_format(localtime(self.change.lease_ends_at), "SHORT_DATETIME_FORMAT")
        return f"{self.vm.name}: {gettext('lease until')} {end}"


def approval_count(*, approver=None) -> int:
    """Pending VM requests and change requests; with `approver`, only those they may decide
    (not their own: vms.access.is_own_request)."""
    vms = VirtualMachine.objects.filter(state=VirtualMachine.State.PENDING_APPROVAL)
    changes = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING)
    if approver is not None:
        vms = vms.exclude(owner=approver)
        changes = changes.exclude(requested_by=approver).exclude(vm__owner=approver)
    return vms.count() + changes.count()


# What the queue's cards show of a VM and of a change: a whole VM would decode its spec, disks
# and status too, and key each card's cached HTML by them (hikube_portal.fragments).
CARD_VM_FIELDS = (
    "team",
    "owner",
    "name",
    "gpu_count",
    "created_at",
    "justification",
    "lease_ends_at",
    *name_columns("team", person=False),
    *name_columns("owner", person=True),
)
CARD_CHANGE_FIELDS = (
    "vm",
    "kind",
    "state",
    "lease_ends_at",
    "justification",
    "created_at",
    "requested_by",
    *name_columns("requested_by", person=True),
    "vm__instance_type",
    "vm__gpu_model",
    *(f"vm__{field}" for field in CARD_VM_FIELDS),
)


def approval_items(*, only_unnotified: bool = False, older_than=None, cards: bool = False) -> list[ApprovalItem]:
    """Pending VM requests and change requests, oldest first (two queries); with `cards`, only
    what the queue's cards show of them."""
    vms = with_catalogue(
        VirtualMachine.objects.filter(state=VirtualMachine.State.PENDING_APPROVAL).select_related("team", "owner"),
        fields=CARD_VM_FIELDS if cards else None,
    )
    changes = ChangeRequest.objects.filter(state=ChangeRequest.State.PENDING).select_related(
        "vm__team", "vm__owner", "requested_by"
    )
    if cards:
        changes = changes.only(*CARD_CHANGE_FIELDS)
    if only_unnotified:
        vms, changes = (
            vms.filter(approvers_notified_at__isnull=True),
            changes.filter(approvers_notified_at__isnull=True),
        )
    if older_than is not None:
        vms, changes = vms.filter(created_at__lt=older_than), changes.filter(created_at__lt=older_than)
    attach = catalogue_attacher()
    items = [ApprovalItem(vm=vm, change=None) for vm in vms] + [
        ApprovalItem(vm=attach(change.vm), change=change) for change in changes
    ]
    return sorted(items, key=lambda item: item.created_at)


def leases_to_remind(*, until) -> QuerySet[VirtualMachine]:
    return VirtualMachine.objects.filter(
        lease_ends_at__lte=until,
        lease_reminded_at__isnull=True,
        state__in=LEASE_STOPPABLE_STATES,
    ).select_related("owner", "team")


def leases_ended(*, now) -> QuerySet[VirtualMachine]:
    return VirtualMachine.objects.filter(lease_ends_at__lte=now, state__in=LEASE_STOPPABLE_STATES).select_related(
        "owner", "team"
    )


# The team VMs an approver sees beside a request; the rest are a link away.
HELD_SHOWN = 5
# What the queue shows of each: a whole row would decode its disks, keys and software too.
HELD_ROW_FIELDS = (
    "team",
    "name",
    "gpu_count",
    "state",
    *name_columns("owner", person=True),
)


def approval_context(items: list[ApprovalItem]) -> dict:
    """What approvers see beside each request, for all items at once (two queries, whatever
    the number of VMs the teams hold).

    Returns {"quotas": {(team_id, model_id): (used, limit | None)},
             "held": {team_id: (VM count, GPU count)},
             "owner_gpus": {(team_id, user_id): GPU count}}: what the teams in the queue hold."""
    team_ids = {item.vm.team_id for item in items}
    limits = {(q.team_id, q.gpu_model_id): q.max_gpus for q in Quota.objects.filter(team_id__in=team_ids)}
    # One pass over the teams' VMs gives both what they committed (every VM not gone:
    # team_gpus_committed's figure) and what they hold.
    used, vm_counts, gpu_counts, owner_gpus = Counter(), Counter(), Counter(), Counter()
    for row in (
        _committed(team_ids=team_ids)
        .order_by()
        .values("team_id", "owner_id", "gpu_model_id", "state")
        .annotate(vms=Count("id"), gpus=Sum("gpu_count"))
    ):
        team_id = row["team_id"]
        used[team_id, row["gpu_model_id"]] += row["gpus"]
        if row["state"] in states.HELD_STATES:
            vm_counts[team_id] += row["vms"]
            gpu_counts[team_id] += row["gpus"]
            owner_gpus[team_id, row["owner_id"]] += row["gpus"]
    held = {team_id: (vm_counts[team_id], gpu_counts[team_id]) for team_id in vm_counts}
    quotas = {
        (item.vm.team_id, item.vm.gpu_model_id): (
            used.get((item.vm.team_id, item.vm.gpu_model_id), 0),
            limits.get((item.vm.team_id, item.vm.gpu_model_id)),
        )
        for item in items
    }
    return {"quotas": quotas, "held": held, "owner_gpus": owner_gpus}


def largest_held(team_ids) -> dict[int, list[VirtualMachine]]:
    """{team_id: at most HELD_SHOWN of the team's held VMs, the largest first} (two queries):
    what the queue shows of each team's holdings, the rest a link away."""
    order = [F("gpu_count").desc(), F("created_at").desc(), F("pk").desc()]
    holding = VirtualMachine.objects.filter(team_id__in=team_ids, state__in=states.HELD_STATES).order_by()
    # The window ranks narrow rows (from vm_team_largest_held), then only the chosen ones are read
    # whole: ranking every held VM whole, joined to its owner, took 10 ms for 20 teams of 200. The
    # chosen keys are read first: as a subquery, PostgreSQL expected thousands of them and read the
    # whole table to join them (2 ms at 10,000 VMs; 0.6 ms in two queries).
    ranked = holding.annotate(rank=Window(RowNumber(), partition_by=F("team_id"), order_by=order))
    chosen = list(ranked.filter(rank__lte=HELD_SHOWN).values_list("pk", flat=True))
    if not chosen:
        return {}
    rows = with_catalogue(VirtualMachine.objects.filter(pk__in=chosen), fields=HELD_ROW_FIELDS).order_by(*order)
    shown: dict[int, list[VirtualMachine]] = {}
    for vm in rows:
        shown.setdefault(vm.team_id, []).append(vm)
    return shown


@dataclass
class ApprovalRow:
    """One thing to decide with what approvers see beside it (the queue page and the API)."""

    item: ApprovalItem
    quota: tuple[int, int | None]  # (GPUs of the model the team committed, its limit or None)
    free: FreeGpus
    own: bool  # the approver asked for it: someone else decides
    held: list[VirtualMachine]  # the team's largest VMs, at most HELD_SHOWN (none unless asked: show_held)
    held_more: int  # the team's other VMs, a link away
    requester_gpus: int
    team_gpus: int

    @property
    def will_wait(self) -> bool:
        return not self.free.fits(self.item.vm.gpu_count)


def approval_rows(*, approver, items: list[ApprovalItem] | None = None, show_held: bool = True) -> list[ApprovalRow]:
    """The approver queue, oldest first, in a fixed number of queries: `items` (a page of
    approval_items()), or every pending one; with `show_held`, each team's largest VMs too."""
    items = approval_items() if items is None else items
    context = approval_context(items)
    team_ids = {item.vm.team_id for item in items}
    largest = largest_held(team_ids) if show_held else {}
    capacity = CapacityReading(team_ids=team_ids)
    rows = []
    for item in items:
        team_id = item.vm.team_id
        team_vms, team_gpus = context["held"].get(team_id, (0, 0))
        shown = largest.get(team_id, [])
        rows.append(
            ApprovalRow(
                item=item,
                quota=context["quotas"][team_id, item.vm.gpu_model_id],
                free=capacity.free_gpus(team_id=team_id, gpu_model_id=item.vm.gpu_model_id),
                own=is_own_request(approver, vm=item.vm, change=item.change),
                held=shown,
                held_more=team_vms - len(shown),
                requester_gpus=context["owner_gpus"].get((team_id, item.requested_by.pk), 0),
                team_gpus=team_gpus,
            )
        )
    return rows


def resize_choices(*, vm: VirtualMachine):
    """Instance types the VM may be resized to: offered, same GPU count, not the current one."""
    if vm.state not in (VirtualMachine.State.RUNNING, VirtualMachine.State.STOPPED):
        return []
    return [
        instance_type
        for instance_type in catalogue_rows().instance_types
        if instance_type.active and instance_type.gpu_count == vm.gpu_count and instance_type.pk != vm.instance_type_id
    ]


def waitlist_position(*, vm: VirtualMachine) -> dict | None:
    """Where an approved VM stands in its GPU model's queue, and what it waits for: `free` is
    what its team could start now (vms.governance.capacity.FreeGpus)."""
    if vm.state != VirtualMachine.State.APPROVED:
        return None
    ahead = waitlist(gpu_model=vm.gpu_model).filter(
        Q(state_changed_at__lt=vm.state_changed_at) | Q(state_changed_at=vm.state_changed_at, id__lt=vm.pk)
    )
    free = CapacityReading(team_ids=[vm.team_id], gpu_model_ids=[vm.gpu_model_id]).free_gpus(
        team_id=vm.team_id, gpu_model_id=vm.gpu_model_id
    )
    return {"position": ahead.count() + 1, "free": free, "needed": vm.gpu_count, "model": vm.gpu_model.slug}
