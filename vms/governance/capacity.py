"""Free GPUs: how many of a model a team could start now, from what the status sync read on
the cluster (vms.cluster.sync stores it; this module only reads it).

Two sources bound the figure, each when it is known:

- the team's quota room: the `tenant-quota` ResourceQuota of its namespace (TenantQuota rows),
  hard less used, for the model's resource name;
- the nodes' room: what the nodes can allocate less what is held (GpuAllocation rows), when
  the portal may read nodes.

Free is the smallest of the known ones. When neither is known, the catalogue's capacity less
what is held stands in, flagged as an estimate, and pages say so.

What is held is the larger of what the cluster showed at the last sync ("observed") and what
the portal has sent to it ("recorded": its VMs in GPU-holding states): a VM sent a moment ago
shows on the cluster only at the next sync. Readings older than a few sync cycles are not
trusted (the sync stopped or keeps failing).

A reading is three queries whatever the number of teams, models or VMs.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from vms import states
from vms.models import GpuAllocation, GpuModel, TenantQuota, VirtualMachine

NOT_READABLE = _("the cluster's capacity is not readable")
NOT_READ_RECENTLY = _("the cluster has not been read recently")


def _fresh_since():
    # A cycle or two missed is normal (a slow cycle, a worker restart); six are not.
    return timezone.now() - timedelta(seconds=max(60.0, 6 * settings.CLUSTER_SYNC_INTERVAL_SECONDS))


def gpus_observed_by_model() -> dict[int, int]:
    """GPUs the cluster's VMs held per GPU model id at the last complete sync (one query);
    models the sync has not counted recently are left out."""
    fresh = GpuAllocation.objects.filter(resource_name=OuterRef("resource_name"), observed_at__gte=_fresh_since())
    rows = GpuModel.objects.annotate(observed=Subquery(fresh.values("allocated")[:1])).values_list("pk", "observed")
    return {pk: observed for pk, observed in rows if observed is not None}


@dataclass(frozen=True)
class FreeGpus:
    """Free GPUs of one model for one team, and what the figure rests on."""

    count: int
    capacity: int  # the catalogue's, what an estimate is out of
    quota_left: int | None = None  # room in the team's tenant-quota; None: no quota on this GPU, or not read
    quota_hard: int | None = None
    nodes_free: int | None = None  # the nodes' allocatable less what is held; None: nodes not read
    allocatable: int | None = None
    estimate_reason: str | Promise = ""  # set when neither source is known

    @property
    def estimate(self) -> bool:
        return bool(self.estimate_reason)

    def fits(self, gpus: int) -> bool:
        return gpus <= self.count

    def cluster_short_of(self, gpus: int) -> bool:
        """The whole cluster (not only the team's quota) lacks `gpus` of the model, so nobody
        else's request for it may start either; False when only the quota is known."""
        if self.nodes_free is not None:
            return gpus > self.nodes_free
        return self.estimate and gpus > self.count

    def __str__(self):
        # The VM page prints the waitlist's figure as is: an estimate must read as one.
        return gettext("about %(count)d") % {"count": self.count} if self.estimate else str(self.count)


class CapacityReading:
    """What bounds free GPUs for the given teams and models, read at once (three queries), so
    a page or the waitlist asks for any number of (team, model) pairs without more queries."""

    def __init__(self, *, team_ids: Iterable[int | None] = (), gpu_model_ids: Iterable[int] | None = None):
        fresh_since = _fresh_since()
        fresh = GpuAllocation.objects.filter(resource_name=OuterRef("resource_name"), observed_at__gte=fresh_since)
        models = GpuModel.objects.all()
        recorded = VirtualMachine.objects.filter(state__in=states.GPU_HOLDING_STATES)
        if gpu_model_ids is not None:
            models, recorded = models.filter(pk__in=gpu_model_ids), recorded.filter(gpu_model_id__in=gpu_model_ids)
        self._models = {
            row["pk"]: row
            for row in models.annotate(
                observed=Subquery(fresh.values("allocated")[:1]),
                allocatable=Subquery(fresh.values("allocatable")[:1]),
            ).values("pk", "resource_name", "capacity", "observed", "allocatable")
        }
        self._recorded_by_team: Counter = Counter()
        self._recorded: Counter = Counter()
        for row in recorded.values("team_id", "gpu_model_id").annotate(gpus=Sum("gpu_count")):
            self._recorded_by_team[row["team_id"], row["gpu_model_id"]] += row["gpus"]
            self._recorded[row["gpu_model_id"]] += row["gpus"]
        self._quotas = {
            (row.team_id, row.resource_name): row
            for row in TenantQuota.objects.filter(
                team_id__in=[pk for pk in team_ids if pk is not None], observed_at__gte=fresh_since
            )
        }
        self._recorded_since_read_by_team: Counter = Counter()
        self._recorded_since_read: Counter = Counter()

    def free_gpus(self, *, team_id: int | None, gpu_model_id: int) -> FreeGpus:
        model = self._models[gpu_model_id]
        held = max(model["observed"] or 0, self._recorded[gpu_model_id]) + self._recorded_since_read[gpu_model_id]
        nodes_free = None if model["allocatable"] is None else max(model["allocatable"] - held, 0)
        quota = self._quotas.get((team_id, model["resource_name"]))
        quota_left = None
        if quota is not None:
            team_held = (
                max(quota.used, self._recorded_by_team[team_id, gpu_model_id])
                + self._recorded_since_read_by_team[team_id, gpu_model_id]
            )
            quota_left = max(quota.hard - team_held, 0)
        known = [room for room in (quota_left, nodes_free) if room is not None]
        if known:
            return FreeGpus(
                count=min(known),
                capacity=model["capacity"],
                quota_left=quota_left,
                quota_hard=None if quota is None else quota.hard,
                nodes_free=nodes_free,
                allocatable=model["allocatable"],
            )
        return FreeGpus(
            count=max(model["capacity"] - held, 0),
            capacity=model["capacity"],
            estimate_reason=NOT_READ_RECENTLY if model["observed"] is None else NOT_READABLE,
        )

    def add_recorded(self, *, team_id: int, gpu_model_id: int, gpus: int) -> None:
        """Counts GPUs recorded as sent to the cluster since the reading, which neither it nor the
        last sync saw."""
        self._recorded_since_read[gpu_model_id] += gpus
        self._recorded_since_read_by_team[team_id, gpu_model_id] += gpus
