"""Django admin for platform admins: catalogue, teams, quotas, rules, VMs, the audit log and
the cluster objects nobody claims. Every change made here lands in the audit log."""

import json

from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from hikube_portal import task_names
from vms import transitions
from vms.models import (
    AutoApprovalRule,
    ChangeRequest,
    Event,
    GpuModel,
    Image,
    InstanceType,
    Membership,
    OrphanObject,
    Preset,
    Quota,
    StorageClass,
    Team,
    VirtualMachine,
)

ADMIN_MESSAGES = {
    "added": N_("Added %(model)s “%(object)s”"),
    "changed": N_("Changed %(model)s “%(object)s”: %(fields)s"),
    "deleted": N_("Deleted %(model)s “%(object)s”"),
}


class AuditedAdmin(admin.ModelAdmin):
    """Writes each add, change and delete to the portal's audit log (besides Django's own log)."""

    def _audit(self, request, obj, what: str, fields: str = ""):
        team = obj if isinstance(obj, Team) else getattr(obj, "team", None)
        transitions.event_record(
            kind=Event.Kind.ADMIN,
            actor=request.user,
            target=f"{obj._meta.verbose_name}: {obj}",
            team=team if isinstance(team, Team) else None,
            message=ADMIN_MESSAGES[what],
            data={"model": str(obj._meta.verbose_name), "object": str(obj), "fields": fields, "pk": obj.pk},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "added")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        # Django's own wording of the change, inlines included (a membership added to a team
        # grants access: it must show in the audit log as such).
        described = LogEntry(change_message=json.dumps(message)).get_change_message()
        self._audit(request, obj, "changed", described or "—")
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the portal's services (checked and audited), read here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description=_("Synchronise with the cluster now"))
def sync_now(modeladmin, request, queryset):
    transitions.enqueue_on_commit(task_names.SYNC_CLUSTER)
    modeladmin.message_user(
        request, _("A status sync is queued; the list shows its result in a few seconds."), messages.SUCCESS
    )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    # Memberships added here are kept at sign-in; those from the identity provider follow its groups.
    readonly_fields = ["source"]


class QuotaInline(admin.TabularInline):
    model = Quota
    extra = 1


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "display_name", "namespace", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "display_name"]
    inlines = [MembershipInline, QuotaInline]


@admin.register(GpuModel)
class GpuModelAdmin(AuditedAdmin):
    list_display = ["slug", "name", "resource_name", "capacity", "needs_approval", "price_per_gpu_hour", "active"]
    list_editable = ["capacity", "needs_approval", "price_per_gpu_hour", "active"]


@admin.register(InstanceType)
class InstanceTypeAdmin(AuditedAdmin):
    list_display = ["name", "vcpu", "ram_gib", "gpu_count", "active"]
    list_filter = ["gpu_count", "active"]


@admin.register(Image)
class ImageAdmin(AuditedAdmin):
    list_display = ["slug", "label", "profile", "default_user", "runs_software_blocks", "active"]


@admin.register(StorageClass)
class StorageClassAdmin(AuditedAdmin):
    list_display = ["name", "label", "active"]


@admin.register(Preset)
class PresetAdmin(AuditedAdmin):
    list_display = ["title", "slug", "instance_type", "gpu_model", "position"]


@admin.register(Quota)
class QuotaAdmin(AuditedAdmin):
    list_display = ["team", "gpu_model", "max_gpus"]
    list_filter = ["gpu_model"]


@admin.register(AutoApprovalRule)
class AutoApprovalRuleAdmin(AuditedAdmin):
    list_display = ["__str__", "gpu_model", "max_gpus", "max_lease_hours", "active"]


@admin.register(VirtualMachine)
class VirtualMachineAdmin(ReadOnlyAdmin):
    """A VM is bound to objects on the cluster: it changes through the portal's pages and
    services, never by editing its row."""

    list_display = ["name", "team", "owner", "state", "cluster_status", "gpu_model", "gpu_count", "created_at"]
    list_filter = ["state", "gpu_model", "team"]
    search_fields = ["name", "owner__username", "team__name"]
    list_select_related = ["team", "owner", "gpu_model"]
    actions = [sync_now]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ["vm", "kind", "state", "requested_by", "lease_ends_at", "created_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["vm", "requested_by"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit log: append-only by design."""

    list_display = ["created_at", "kind", "actor", "target", "text", "reason"]
    list_filter = ["kind", "team"]
    search_fields = ["target", "message", "reason", "actor__username"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"


@admin.register(OrphanObject)
class OrphanObjectAdmin(ReadOnlyAdmin):
    """Cluster objects with the portal's labels that no VM claims (as of the last sync)."""

    list_display = ["namespace", "kind", "name", "vm_id_label", "created_at", "seen_at"]
    list_filter = ["namespace", "kind"]
    actions = [sync_now]
