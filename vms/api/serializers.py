"""What the API answers and accepts. Output serializers read rows the selectors already joined;
input serializers check only types and bounds, the portal's rules being applied by the same
services, forms' rules and spec checks the pages use."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vms.models import ApiToken, ChangeRequest, Event, VirtualMachine
from vms.spec.request import MAX_VM_NAME_LENGTH


class SystemDiskSerializer(serializers.Serializer):
    size_gib = serializers.IntegerField(source="system_disk_gib")
    storage_class = serializers.CharField(source="system_disk_class")


class DiskSerializer(serializers.Serializer):
    name = serializers.CharField()
    size_gib = serializers.IntegerField()
    storage_class = serializers.CharField()


class VmSerializer(serializers.Serializer):
    """A VM as the list shows it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    team = serializers.CharField(source="team.name")
    owner = serializers.CharField(source="owner.username")
    state = serializers.ChoiceField(choices=VirtualMachine.State.choices)
    state_label = serializers.CharField(source="get_state_display")
    settled = serializers.BooleanField(
        source="is_settled", help_text="False while the VM is on its way somewhere: poll until it is true."
    )
    cluster_status = serializers.CharField()
    instance_type = serializers.CharField(source="instance_type.name")
    gpu_model = serializers.CharField(source="gpu_model.slug")
    gpu_count = serializers.IntegerField()
    image = serializers.CharField()
    external_ip = serializers.IPAddressField(allow_null=True)
    public_ports = serializers.ListField(child=serializers.IntegerField())
    lease_ends_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    state_changed_at = serializers.DateTimeField()


# The columns VmSerializer reads (the list asks for these alone).
VM_FIELDS = (
    "name",
    "team__name",
    "owner__username",
    "state",
    "cluster_status",
    "gpu_count",
    "image",
    "external_ip",
    "public_ports",
    "lease_ends_at",
    "created_at",
    "state_changed_at",
)


class EventSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    kind = serializers.ChoiceField(choices=Event.Kind.choices)
    actor = serializers.SerializerMethodField()
    message = serializers.CharField(source="text")
    reason = serializers.CharField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_actor(self, event) -> str | None:
        return event.actor.username if event.actor else None


class WaitlistSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    needed = serializers.IntegerField(help_text="GPUs the VM waits for.")
    free = serializers.IntegerField(source="free.count", help_text="GPUs its team could start now.")
    free_is_estimate = serializers.BooleanField(source="free.estimate")


class LeaseExtensionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ChangeRequest.State.choices)
    lease_ends_at = serializers.DateTimeField()
    justification = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    created_at = serializers.DateTimeField()


class VmDetailSerializer(VmSerializer):
    """A VM as its page shows it: the list's fields, what it runs, what happened and what may."""

    status_message = serializers.CharField()
    failure_message = serializers.CharField()
    system_disk = SystemDiskSerializer(source="*")
    disks = DiskSerializer(many=True)
    software = serializers.ListField(child=serializers.CharField())
    ssh_keys = serializers.ListField(child=serializers.CharField())
    network = serializers.CharField()
    justification = serializers.CharField()
    confirmation_overdue = serializers.BooleanField(help_text="The cluster has not confirmed the last action in time.")
    actions = serializers.ListField(child=serializers.CharField(), help_text="What you may do to the VM now.")
    waitlist = WaitlistSerializer(allow_null=True)
    pending_lease_extension = LeaseExtensionSerializer(allow_null=True)
    timeline = EventSerializer(many=True, help_text="Newest first, at most 50 entries.")


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class SizeField(serializers.JSONField):
    """A Kubernetes quantity such as "200Gi" or "1Ti" (a bare number would mean bytes)."""


class SystemDiskInputSerializer(serializers.Serializer):
    size = SizeField(required=False)
    storage_class = serializers.CharField(required=False)


class DiskInputSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = SizeField()
    storage_class = serializers.CharField(required=False)


class VmCreateSerializer(serializers.Serializer):
    """The spec document `manage.py vm_manifest` reads, as JSON, with the lease and an optional
    preset whose values fill what the document leaves out. Only the OpenAPI document uses it:
    the body is checked by the document's own rules, whose errors name the same paths."""

    name = serializers.CharField(max_length=MAX_VM_NAME_LENGTH, required=False)
    team = serializers.CharField()
    preset = serializers.CharField(required=False)
    instance_type = serializers.CharField(required=False)
    gpu_model = serializers.CharField(required=False)
    image = serializers.CharField(required=False)
    system_disk = SystemDiskInputSerializer(required=False)
    disks = DiskInputSerializer(many=True, required=False)
    public_ports = serializers.ListField(child=serializers.IntegerField(), required=False)
    ssh_keys = serializers.ListField(child=serializers.CharField(), required=False)
    software = serializers.ListField(child=serializers.CharField(), required=False)
    cloud_config = serializers.CharField(required=False, allow_blank=True)
    network = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    justification = serializers.CharField(required=False, allow_blank=True)
    lease_ends_at = serializers.DateTimeField(required=False, allow_null=True)


class VmCreatedSerializer(VmDetailSerializer):
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Advice that did not stop the request.")


class ResizeSerializer(serializers.Serializer):
    instance_type = serializers.CharField(help_text="An offered instance type with the VM's GPU count.")


class LeaseExtendSerializer(serializers.Serializer):
    lease_ends_at = serializers.DateTimeField()
    justification = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ConnectionSerializer(serializers.Serializer):
    host = serializers.IPAddressField()
    user = serializers.CharField()
    ports = serializers.ListField(child=serializers.IntegerField(), help_text="The ports open on the public IP.")
    command = serializers.CharField(help_text="The ssh command line.")


class ManifestsSerializer(serializers.Serializer):
    objects = serializers.ListField(child=serializers.DictField(), help_text="The Kubernetes objects, as applied.")
    yaml = serializers.CharField(help_text="The same objects as multi-document YAML.")


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TokenSerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices)
    expires_at = serializers.DateTimeField()


class VmPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = VmSerializer(many=True)


class QuotaSerializer(serializers.Serializer):
    gpu_model = serializers.CharField()
    max_gpus = serializers.IntegerField()
    used = serializers.IntegerField(help_text="GPUs the team holds or has asked for.")


class TeamRoleSerializer(serializers.Serializer):
    name = serializers.CharField()
    namespace = serializers.CharField()
    role = serializers.CharField()
    quotas = QuotaSerializer(many=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    platform_admin = serializers.BooleanField()
    approver = serializers.BooleanField()
    teams = TeamRoleSerializer(many=True)
    token = TokenSerializer(allow_null=True, help_text="The token of this call, if it used one.")


class InstanceTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    vcpu = serializers.IntegerField()
    ram_gib = serializers.IntegerField()
    gpu_count = serializers.IntegerField()


class GpuModelSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    architecture = serializers.CharField()
    memory_gb = serializers.IntegerField()
    needs_approval = serializers.BooleanField()
    capacity = serializers.IntegerField()
    free_gpus = serializers.IntegerField(help_text="GPUs free on the cluster now.")
    free_is_estimate = serializers.BooleanField(help_text="The cluster was not read recently: an estimate.")


class ImageSerializer(serializers.Serializer):
    slug = serializers.CharField()
    label = serializers.CharField()
    default_user = serializers.CharField()


class StorageClassSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    guidance = serializers.CharField()


class PresetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    instance_type = serializers.CharField(source="instance_type.name")
    gpu_model = serializers.CharField(source="gpu_model.slug")


class CatalogueSerializer(serializers.Serializer):
    instance_types = InstanceTypeSerializer(many=True)
    gpu_models = GpuModelSerializer(many=True)
    images = ImageSerializer(many=True)
    storage_classes = StorageClassSerializer(many=True)
    presets = PresetSerializer(many=True)
    networks = serializers.ListField(child=serializers.CharField())


class ApprovalSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["vm", "lease_extension"])
    id = serializers.IntegerField(help_text="The VM's id for a VM request, the change's for a lease extension.")
    vm = VmSerializer()
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    justification = serializers.CharField()
    summary = serializers.CharField()
    quota_used = serializers.IntegerField()
    quota_limit = serializers.IntegerField(allow_null=True)
    free_gpus = serializers.IntegerField(help_text="GPUs of the model the team could start now.")
    own = serializers.BooleanField(help_text="Your own request: someone else decides it.")


class GpuSeriesSerializer(serializers.Serializer):
    uuid = serializers.CharField()
    index = serializers.CharField()
    model = serializers.CharField()
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))
    current = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class PanelSerializer(serializers.Serializer):
    panel = serializers.CharField()
    title = serializers.CharField()
    unit = serializers.CharField()
    timestamps = serializers.ListField(child=serializers.FloatField(), help_text="Unix seconds, one per step.")
    gpus = GpuSeriesSerializer(many=True)


class TelemetrySerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    step_seconds = serializers.IntegerField()
    panels = PanelSerializer(many=True)
