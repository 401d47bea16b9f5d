from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from vms.states import FINAL_STATES, GPU_HOLDING_STATES, HELD_STATES, REQUEST_STATES, State, is_settled

# Team names become part of a Kubernetes namespace (tenant-<name>), so they follow the
# DNS-1123 label rules with room for the prefix (63 - len("tenant-")).
team_name_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?$",
    _("Use lowercase letters, digits and hyphens (at most 56), starting and ending with a letter or digit."),
)


def name_columns(relation: str, *, person: bool) -> tuple[str, ...]:
    """The columns through `relation` that a page needs to name a person (their full name, else
    their username) or a team (Team.__str__): what a list reading only its rows' columns asks for."""
    columns = ("username", "first_name", "last_name") if person else ("name", "display_name")
    return tuple(f"{relation}__{column}" for column in columns)


class Team(models.Model):
    """A Hikube tenant: owns a Kubernetes namespace and the VMs in it."""

    name = models.CharField(_("name"), max_length=56, unique=True, validators=[team_name_validator])
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", verbose_name=_("members")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # A team the identity provider named before an admin set it up waits here, disabled: its
    # members see it, nobody may request VMs for it until an admin enables it.
    active = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.display_name or self.name

    @property
    def namespace(self) -> str:
        return f"tenant-{self.name}"


class Membership(models.Model):
    class Role(models.TextChoices):
        READER = "reader", _("Reader")
        MEMBER = "member", _("Member")
        MANAGER = "manager", _("Manager")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Made by hand")
        IDENTITY_PROVIDER = "oidc", _("From the identity provider")

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Memberships from the identity provider follow its groups at every sign-in; those made by
    # hand are left alone.
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.MANUAL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display()})"


class GpuModel(models.Model):
    """A GPU model of the catalogue and the cluster resource that allocates it."""

    slug = models.SlugField(_("slug"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=64)
    architecture = models.CharField(_("architecture"), max_length=64)
    memory_gb = models.PositiveIntegerField(_("memory (GB)"))
    memory_description = models.CharField(_("memory"), max_length=100, blank=True)
    performance = models.CharField(_("headline performance"), max_length=200, blank=True)
    typical_use = models.CharField(_("typical use"), max_length=200, blank=True)
    resource_name = models.CharField(
        _("cluster resource name"),
        max_length=253,
        unique=True,
        help_text=_("The PCI-database name the cluster allocates, e.g. nvidia.com/H100_94GB."),
    )
    capacity = models.PositiveIntegerField(
        _("total capacity"),
        help_text=_(
            "GPUs of this model in the cluster. Free GPUs are estimated from it only when neither the "
            "team's tenant quota nor the nodes can be read."
        ),
    )
    needs_approval = models.BooleanField(_("requests need approval"), default=False)
    price_per_gpu_hour = models.DecimalField(
        _("price per GPU-hour (EUR)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["memory_gb", "slug"]
        verbose_name = _("GPU model")
        verbose_name_plural = _("GPU models")

    def __str__(self):
        return self.name


class InstanceType(models.Model):
    name = models.CharField(_("name"), max_length=63, unique=True)
    vcpu = models.PositiveIntegerField(_("vCPU"))
    ram_gib = models.PositiveIntegerField(_("RAM (GiB)"))
    gpu_count = models.PositiveIntegerField(_("GPUs"))
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["gpu_count", "vcpu", "name"]
        verbose_name = _("instance type")
        verbose_name_plural = _("instance types")

    def __str__(self):
        return self.name


class Image(models.Model):
    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    label = models.CharField(_("label"), max_length=100)
    profile = models.CharField(_("instance profile"), max_length=63, blank=True)
    default_user = models.CharField(_("login user"), max_length=32)
    runs_software_blocks = models.BooleanField(_("runs the software blocks"), default=False)
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["label"]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self):
        return self.label


class StorageClass(models.Model):
    name = models.CharField(_("name"), max_length=63, unique=True)
    label = models.CharField(_("label"), max_length=100)
    guidance = models.TextField(_("when to use it"), blank=True)
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("storage class")
        verbose_name_plural = _("storage classes")

    def __str__(self):
        return self.label


class Preset(models.Model):
    """A ready-made request (the seed's examples) that pre-fills the form."""

    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    suggested_name = models.CharField(_("suggested VM name"), max_length=41, blank=True)
    instance_type = models.ForeignKey(InstanceType, on_delete=models.PROTECT, verbose_name=_("instance type"))
    gpu_model = models.ForeignKey(GpuModel, on_delete=models.PROTECT, verbose_name=_("GPU model"))
    system_disk_gib = models.PositiveIntegerField(_("system disk (GiB)"))
    system_disk_class = models.CharField(_("system disk storage class"), max_length=63)
    disks = models.JSONField(_("additional disks"), default=list, blank=True)
    public_ports = models.JSONField(_("public ports"), default=list, blank=True)
    software = models.JSONField(_("software"), default=list, blank=True)
    cloud_config = models.JSONField(_("cloud-config additions"), default=dict, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "title"]
        verbose_name = _("preset")
        verbose_name_plural = _("presets")

    def __str__(self):
        return self.title


class VirtualMachine(models.Model):
    """A GPU VM as requested, and the portal's record of where it stands on the cluster."""

    State = State

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="vms", verbose_name=_("team"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vms", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=41)
    instance_type = models.ForeignKey(InstanceType, on_delete=models.PROTECT, verbose_name=_("instance type"))
    gpu_model = models.ForeignKey(GpuModel, on_delete=models.PROTECT, verbose_name=_("GPU model"))
    gpu_count = models.PositiveIntegerField(_("GPUs"))
    image = models.CharField(_("image"), max_length=63)
    system_disk_gib = models.PositiveIntegerField(_("system disk (GiB)"))
    system_disk_class = models.CharField(_("system disk storage class"), max_length=63)
    disks = models.JSONField(_("additional disks"), default=list, blank=True)
    public_ports = models.JSONField(_("public ports"), default=list, blank=True)
    ssh_keys = models.JSONField(_("SSH public keys"), default=list, blank=True)
    software = models.JSONField(_("software"), default=list, blank=True)
    cloud_config = models.TextField(_("additional cloud-config"), blank=True)
    network = models.CharField(_("HPC network"), max_length=63, blank=True)
    justification = models.TextField(_("justification"), blank=True)
    api_shape = models.CharField(_("API shape"), max_length=16, default="current")
    lease_ends_at = models.DateTimeField(_("lease ends"), null=True, blank=True)

    state = models.CharField(_("state"), max_length=20, choices=State.choices, db_index=True)
    state_changed_at = models.DateTimeField(_("state changed"), auto_now_add=True)
    # What the cluster last said, written by the status sync.
    cluster_status = models.CharField(_("cluster status"), max_length=40, blank=True)
    status_message = models.TextField(_("status message"), blank=True)
    disk_status = models.JSONField(_("disk status"), default=dict, blank=True)
    external_ip = models.GenericIPAddressField(_("external IP"), null=True, blank=True)
    failure_message = models.TextField(_("failure"), blank=True)
    failure_retryable = models.BooleanField(default=False)
    # Notification bookkeeping, so each mail goes out once whichever worker sends it.
    approvers_notified_at = models.DateTimeField(null=True, blank=True)
    approvers_reminded_at = models.DateTimeField(null=True, blank=True)
    lease_reminded_at = models.DateTimeField(null=True, blank=True)
    # When a task for this VM was last enqueued or made progress. The status sync enqueues the
    # work again when this gets old while the cluster still disagrees with the state, so a task
    # lost with a killed worker or a restarted Redis does not leave the VM stuck.
    work_touched_at = models.DateTimeField(null=True, blank=True)
    # A restart asked for and not yet delivered: a restart keeps the VM running, so unlike the
    # other actions no state change can turn a second click away. Cleared once the cluster took
    # the restart (or refused it); older than CLUSTER_WORK_STALE_SECONDS, it counts as lost.
    restart_requested_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("virtual machine")
        verbose_name_plural = _("virtual machines")
        constraints = [
            # A name is free again once its VM is gone from the cluster (or never reached it).
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(state__in=["deleted", "rejected"]),
                name="vm_name_unique_in_team_while_alive",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "state"]),
            # The VM lists' order (newest first), for everyone's, a team's and one's own.
            models.Index(fields=["-created_at", "-id"], name="vm_newest_first"),
            models.Index(fields=["team", "-created_at", "-id"], name="vm_team_newest_first"),
            models.Index(fields=["owner", "-created_at", "-id"], name="vm_owner_newest_first"),
            # The fleet pages' default order, and their count, over running GPU VMs only.
            models.Index(
                fields=["name", "id"],
                condition=models.Q(state="running", gpu_count__gt=0),
                name="vm_fleet_by_name",
            ),
            # The GPUs VMs hold, by model and team, read by every free-GPU figure (the request
            # form, its summary, the approver queue) from the index alone on PostgreSQL.
            models.Index(
                fields=["gpu_model", "team", "gpu_count"],
                condition=models.Q(state__in=sorted(GPU_HOLDING_STATES)),
                name="vm_gpus_held",
            ),
            # Each team's largest held VMs, beside its requests in the approver queue: the ranking
            # reads them in order from the index instead of sorting every VM the teams hold.
            models.Index(
                F("team"),
                F("gpu_count").desc(),
                F("created_at").desc(),
                F("id").desc(),
                condition=models.Q(state__in=HELD_STATES),
                name="vm_team_largest_held",
            ),
        ]
        permissions = [("approve_virtualmachine", _("Can approve or reject GPU VM requests"))]

    def __str__(self):
        return f"{self.team.name}/{self.name}"

    @property
    def namespace(self) -> str:
        return self.team.namespace

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_request(self) -> bool:
        """Not yet sent to the cluster: deleting it cancels the request."""
        return self.state in REQUEST_STATES

    @property
    def lease_ended(self) -> bool:
        return self.lease_ends_at is not None and self.lease_ends_at <= timezone.now()

    def get_state_display(self) -> str:
        # Django's own looks the state up in a dict it rebuilds from every choice, translating
        # each label to hash it: fourteen translations a call, a hundred calls on the queue.
        try:
            return str(self.State(self.state).label)
        except ValueError:
            return self.state

    @property
    def is_settled(self) -> bool:
        return is_settled(self.state, self.cluster_status)

    @property
    def badge(self) -> str:
        """CSS class of the state badge."""
        return {
            self.State.RUNNING: "ok",
            self.State.FAILED: "bad",
            self.State.REJECTED: "bad",
            self.State.PENDING_APPROVAL: "warn",
            self.State.STOPPED: "",
            self.State.DELETED: "",
        }.get(self.state, "info")


class Event(models.Model):
    """Append-only timeline and audit trail: who or what did what, to what, when and why."""

    class Kind(models.TextChoices):
        REQUEST = "request", _("Request")
        DECISION = "decision", _("Decision")
        STATE = "state", _("State change")
        ACTION = "action", _("Action")
        CLUSTER = "cluster", _("Cluster")
        ADMIN = "admin", _("Administration")
        ACCESS = "access", _("Access")
        LEASE = "lease", _("Lease")
        USAGE = "usage", _("Usage")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("who"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    vm = models.ForeignKey(
        VirtualMachine,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("virtual machine"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    target = models.CharField(_("on what"), max_length=200, blank=True)
    message = models.TextField(_("what"), blank=True)
    reason = models.TextField(_("why"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["vm", "created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.text}"

    @property
    def text(self) -> str:
        """The message in the reader's language: messages are stored as English format strings
        (marked with gettext_noop) and their parameters live in `data`."""
        if not self.message and self.kind == self.Kind.STATE:
            return str(VirtualMachine.State(self.data["state"]).label)
        try:
            return gettext(self.message) % self.data
        except (KeyError, TypeError, ValueError):
            return self.message


class OrphanObject(models.Model):
    """A cluster object carrying the portal's labels that no live VM of its namespace's team
    claims, as the last status sync saw it. The sync replaces a namespace's rows each cycle."""

    namespace = models.CharField(_("namespace"), max_length=63)
    kind = models.CharField(_("kind"), max_length=63)
    name = models.CharField(_("name"), max_length=253)
    vm_id_label = models.CharField(_("VM id label"), max_length=63, blank=True)
    created_at = models.CharField(_("created on the cluster"), max_length=40, blank=True)
    seen_at = models.DateTimeField(_("last seen"))

    class Meta:
        ordering = ["namespace", "kind", "name"]
        verbose_name = _("orphan cluster object")
        verbose_name_plural = _("orphan cluster objects")
        constraints = [models.UniqueConstraint(fields=["namespace", "kind", "name"], name="one_orphan_row")]

    def __str__(self):
        return f"{self.namespace}/{self.kind}/{self.name}"


class GpuAllocation(models.Model):
    """GPUs of one cluster resource name as the last complete status sync saw them: held by the
    VMs of the teams' namespaces, and what the nodes can allocate."""

    resource_name = models.CharField(_("cluster resource name"), max_length=253, unique=True)
    allocated = models.PositiveIntegerField(_("allocated"))
    # Null when the portal does not read nodes (CLUSTER_READ_NODES, or no permission to).
    allocatable = models.PositiveIntegerField(_("allocatable on the nodes"), null=True, blank=True)
    observed_at = models.DateTimeField(_("observed"))

    class Meta:
        verbose_name = _("GPU allocation")
        verbose_name_plural = _("GPU allocations")

    def __str__(self):
        return f"{self.resource_name}: {self.allocated}"


class TenantQuota(models.Model):
    """What the `tenant-quota` ResourceQuota of a team's namespace said of one GPU resource at
    the last status sync: its tightest key (requests., limits. or bare). Cozystack enforces it,
    whatever the portal's own `Quota` says."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", verbose_name=_("team"))
    resource_name = models.CharField(_("cluster resource name"), max_length=253)
    hard = models.PositiveIntegerField(_("hard limit"))
    used = models.PositiveIntegerField(_("used"))
    observed_at = models.DateTimeField(_("observed"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "resource_name"], name="one_tenant_quota_per_resource")]
        verbose_name = _("tenant quota on the cluster")
        verbose_name_plural = _("tenant quotas on the cluster")

    def __str__(self):
        return f"{self.team.name}: {self.used}/{self.hard} {self.resource_name}"


class Quota(models.Model):
    """How many GPUs of a model a team may hold at once, counting requests not yet decided."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="quotas", verbose_name=_("team"))
    gpu_model = models.ForeignKey(
        GpuModel, on_delete=models.CASCADE, related_name="quotas", verbose_name=_("GPU model")
    )
    max_gpus = models.PositiveIntegerField(_("GPUs at most"))

    class Meta:
        ordering = ["team__name", "gpu_model__slug"]
        constraints = [models.UniqueConstraint(fields=["team", "gpu_model"], name="one_quota_per_team_and_model")]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")

    def __str__(self):
        return f"{self.team.name}: {self.max_gpus}× {self.gpu_model.slug}"


class AutoApprovalRule(models.Model):
    """Lets simple requests for a model that needs approval through without an approver."""

    gpu_model = models.ForeignKey(
        GpuModel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="auto_approval_rules",
        verbose_name=_("GPU model"),
        help_text=_("Empty: every model that needs approval."),
    )
    max_gpus = models.PositiveIntegerField(_("GPUs at most"))
    max_lease_hours = models.PositiveIntegerField(_("lease of at most (hours)"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["gpu_model__slug", "max_gpus"]
        verbose_name = _("auto-approval rule")
        verbose_name_plural = _("auto-approval rules")

    def __str__(self):
        model = self.gpu_model.slug if self.gpu_model else _("any model")
        return f"{model}: ≤ {self.max_gpus} GPUs, ≤ {self.max_lease_hours} h"


class ChangeRequest(models.Model):
    """A change to a VM that goes through the approver queue: today, a longer lease. (A resize
    keeps the GPU model and count, see vms.governance.lifecycle.vm_resize, so it needs no approver.)"""

    class Kind(models.TextChoices):
        EXTEND_LEASE = "extend_lease", _("Lease extension")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="change_requests")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lease_ends_at = models.DateTimeField(_("new lease end"), null=True, blank=True)
    justification = models.TextField(_("justification"), blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    approvers_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One open change of each kind per VM: a second click cannot queue a duplicate.
            models.UniqueConstraint(
                fields=["vm", "kind"], condition=models.Q(state="pending"), name="one_pending_change_per_kind"
            ),
        ]
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")

    def __str__(self):
        return f"{self.get_kind_display()} of {self.vm}"


class ApiToken(models.Model):
    """A personal access token for the REST API (vms.api). Only a digest of the secret is kept:
    the token is shown once, when it is created. The prefix is public: it finds the row and
    names the token in lists and the audit log."""

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class OidcIdentity(models.Model):
    """Who a user is at the identity provider: its issuer and subject, which never change,
    where the username and the email may. A local account is never matched by name or email,
    so no one at the provider can take over a break-glass administrator."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity", verbose_name=_("user")
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    last_login_at = models.DateTimeField(_("last sign-in"), auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_identity")]
        verbose_name = _("identity at the provider")
        verbose_name_plural = _("identities at the provider")

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
