# The portal's schema and its seed catalogue, squashed before the first release from
# 0001_initial … 0011_presets_follow_the_vcpu_per_gpu_advice. The catalogue is a frozen copy of
# vms/catalogue/seed.py as it stood then: a migration must keep doing what it did when it was
# written, whatever the live code becomes.

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GPU_MODELS = [
    {
        "slug": "L40S",
        "name": "NVIDIA L40S",
        "architecture": "Ada Lovelace",
        "memory_gb": 48,
        "memory_description": "48 GB GDDR6 with ECC",
        "performance": "362 TOPS (INT8), 91.6 TFLOPs (FP32)",
        "typical_use": "Generative AI, real-time rendering, simulation",
        "resource_name": "nvidia.com/AD102GL_L40S",
        "capacity": 8,
        "needs_approval": False,
        "price_per_gpu_hour": None,
    },
    {
        "slug": "A100",
        "name": "NVIDIA A100",
        "architecture": "Ampere",
        "memory_gb": 80,
        "memory_description": "80 GB HBM2e with ECC",
        "performance": "312 TOPS (INT8), 624 TFLOPs (Tensor)",
        "typical_use": "AI training, high-performance computing",
        "resource_name": "nvidia.com/GA100_A100_PCIE_80GB",
        "capacity": 8,
        "needs_approval": False,
        "price_per_gpu_hour": None,
    },
    {
        "slug": "H100",
        "name": "NVIDIA H100",
        "architecture": "Hopper",
        "memory_gb": 80,
        "memory_description": "80 GB HBM3 with ECC",
        "performance": "1979 TOPS (INT8), 989 TFLOPs (Tensor)",
        "typical_use": "LLMs, transformers, exascale computing",
        "resource_name": "nvidia.com/H100_94GB",
        "capacity": 8,
        "needs_approval": True,
        "price_per_gpu_hour": None,
    },
]

INSTANCE_TYPES = [
    {"name": "g1.medium", "vcpu": 8, "ram_gib": 32, "gpus": 1},
    {"name": "g1.large", "vcpu": 16, "ram_gib": 64, "gpus": 1},
    {"name": "g1.xlarge", "vcpu": 32, "ram_gib": 128, "gpus": 1},
    {"name": "g1.2xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 1},
    {"name": "g1.4xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 1},
    {"name": "g2.large", "vcpu": 32, "ram_gib": 128, "gpus": 2},
    {"name": "g2.xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 2},
    {"name": "g2.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 2},
    {"name": "g2.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 2},
    {"name": "g4.xlarge", "vcpu": 64, "ram_gib": 256, "gpus": 4},
    {"name": "g4.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 4},
    {"name": "g4.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 4},
    {"name": "g4.8xlarge", "vcpu": 512, "ram_gib": 2048, "gpus": 4},
    {"name": "g8.2xlarge", "vcpu": 128, "ram_gib": 512, "gpus": 8},
    {"name": "g8.4xlarge", "vcpu": 256, "ram_gib": 1024, "gpus": 8},
    {"name": "g8.8xlarge", "vcpu": 512, "ram_gib": 2048, "gpus": 8},
]

IMAGES = [
    {"slug": "ubuntu", "label": "Ubuntu", "profile": "ubuntu", "default_user": "ubuntu", "runs_software_blocks": True},
    {"slug": "fedora", "label": "Fedora", "profile": "fedora", "default_user": "fedora", "runs_software_blocks": False},
    {
        "slug": "alpine",
        "label": "Alpine Linux",
        "profile": "alpine",
        "default_user": "alpine",
        "runs_software_blocks": False,
    },
    {
        "slug": "cirros",
        "label": "CirrOS (test image)",
        "profile": "cirros",
        "default_user": "cirros",
        "runs_software_blocks": False,
    },
    {"slug": "talos", "label": "Talos Linux", "profile": "", "default_user": "talos", "runs_software_blocks": False},
]

STORAGE_CLASSES = [
    {
        "name": "replicated",
        "label": "Replicated",
        "guidance": "Durable: replicated across nodes, survives the loss of a node. Use it for the system disk, "
        "datasets, models and checkpoints.",
    },
    {
        "name": "local",
        "label": "Local NVMe",
        "guidance": "Very fast local NVMe, but lost with the node. Use it for scratch space, caches and temporary "
        "data you can rebuild.",
    },
]

PRESETS = [
    {
        "slug": "dual-a100",
        "title": "Dual A100",
        "description": "Two A100s for multi-GPU work; checks the GPU topology at first boot.",
        "suggested_name": "dual-gpu-vm",
        "instance_type": "g2.large",
        "gpu_model": "A100",
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {"runcmd": ["nvidia-smi", "nvidia-smi topo -m"]},
    },
    {
        "slug": "hpc-quad-h100",
        "title": "Quad H100 for HPC",
        "description": "Four H100s with Open MPI for high-performance computing.",
        "suggested_name": "hpc-quad-gpu",
        "instance_type": "g4.xlarge",
        "gpu_model": "H100",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {"packages": ["openmpi-bin", "openmpi-common"], "runcmd": ["nvidia-smi", "mpirun --version"]},
    },
    {
        "slug": "llm-training",
        "title": "LLM training (8× H100)",
        "description": "Eight H100s with the deep-learning stack, and replicated disks for datasets and checkpoints.",
        "suggested_name": "llm-training",
        "instance_type": "g8.2xlarge",
        "gpu_model": "H100",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [
            {"name": "datasets", "size_gib": 10000, "storage_class": "replicated"},
            {"name": "checkpoints", "size_gib": 5000, "storage_class": "replicated"},
        ],
        "public_ports": [22],
        "software": ["nvidia-driver", "docker-nvidia", "deep-learning", "dcgm-exporter"],
        "cloud_config": {},
    },
    {
        "slug": "inference-api",
        "title": "Inference API (L40S)",
        "description": "One L40S serving a model over HTTP on port 8000, with TensorRT and FastAPI.",
        "suggested_name": "inference-api",
        "instance_type": "g1.large",
        "gpu_model": "L40S",
        "system_disk_gib": 200,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22, 8000],
        "software": ["nvidia-driver", "python", "dcgm-exporter"],
        "cloud_config": {
            "runcmd": ["apt-get install -y tensorrt", "/opt/venv/bin/pip install fastapi uvicorn transformers"]
        },
    },
    {
        "slug": "render-farm",
        "title": "Render farm (2× L40S)",
        "description": "Two L40S with a minimal desktop, Blender and VNC on port 5900.",
        "suggested_name": "render-farm",
        "instance_type": "g2.large",
        "gpu_model": "L40S",
        "system_disk_gib": 500,
        "system_disk_class": "replicated",
        "disks": [],
        "public_ports": [22, 5900],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": {
            "packages": ["ubuntu-desktop-minimal", "blender", "x11vnc"],
            "runcmd": ["systemctl set-default graphical.target"],
        },
    },
]


def load_catalogue(apps, schema_editor):
    """Rows that already exist are left as admins edited them."""
    gpu_model = apps.get_model("vms", "GpuModel")
    instance_type = apps.get_model("vms", "InstanceType")
    image = apps.get_model("vms", "Image")
    storage_class = apps.get_model("vms", "StorageClass")
    preset = apps.get_model("vms", "Preset")

    for row in GPU_MODELS:
        gpu_model.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in INSTANCE_TYPES:
        instance_type.objects.get_or_create(
            name=row["name"], defaults={"vcpu": row["vcpu"], "ram_gib": row["ram_gib"], "gpu_count": row["gpus"]}
        )
    for row in IMAGES:
        image.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in STORAGE_CLASSES:
        storage_class.objects.get_or_create(
            name=row["name"], defaults={"label": row["label"], "guidance": row["guidance"]}
        )
    for position, row in enumerate(PRESETS):
        fields = {k: v for k, v in row.items() if k not in ("slug", "instance_type", "gpu_model")}
        preset.objects.get_or_create(
            slug=row["slug"],
            defaults={
                **fields,
                "position": position,
                "instance_type": instance_type.objects.get(name=row["instance_type"]),
                "gpu_model": gpu_model.objects.get(slug=row["gpu_model"]),
            },
        )


class Migration(migrations.Migration):
    replaces = [
        ("vms", "0001_initial"),
        ("vms", "0002_catalogue_and_vms"),
        ("vms", "0003_seed_catalogue"),
        ("vms", "0004_cluster_sync"),
        ("vms", "0005_governance"),
        ("vms", "0006_change_requests_are_lease_extensions"),
        ("vms", "0007_drop_synced_at"),
        ("vms", "0008_cluster_capacity"),
        ("vms", "0009_restart_requested_at"),
        ("vms", "0010_addresses_out_of_timeline"),
        ("vms", "0011_presets_follow_the_vcpu_per_gpu_advice"),
    ]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="GpuAllocation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("resource_name", models.CharField(max_length=253, unique=True, verbose_name="cluster resource name")),
                ("allocated", models.PositiveIntegerField(verbose_name="allocated")),
                (
                    "allocatable",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="allocatable on the nodes"),
                ),
                ("observed_at", models.DateTimeField(verbose_name="observed")),
            ],
            options={
                "verbose_name": "GPU allocation",
                "verbose_name_plural": "GPU allocations",
            },
        ),
        migrations.CreateModel(
            name="GpuModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=16, unique=True, verbose_name="slug")),
                ("name", models.CharField(max_length=64, verbose_name="name")),
                ("architecture", models.CharField(max_length=64, verbose_name="architecture")),
                ("memory_gb", models.PositiveIntegerField(verbose_name="memory (GB)")),
                ("memory_description", models.CharField(blank=True, max_length=100, verbose_name="memory")),
                ("performance", models.CharField(blank=True, max_length=200, verbose_name="headline performance")),
                ("typical_use", models.CharField(blank=True, max_length=200, verbose_name="typical use")),
                (
                    "resource_name",
                    models.CharField(
                        help_text="The PCI-database name the cluster allocates, e.g. nvidia.com/H100_94GB.",
                        max_length=253,
                        unique=True,
                        verbose_name="cluster resource name",
                    ),
                ),
                (
                    "capacity",
                    models.PositiveIntegerField(
                        help_text="GPUs of this model in the cluster. Free GPUs are estimated from it only when neither the team's tenant quota nor the nodes can be read.",
                        verbose_name="total capacity",
                    ),
                ),
                ("needs_approval", models.BooleanField(default=False, verbose_name="requests need approval")),
                (
                    "price_per_gpu_hour",
                    models.DecimalField(
                        blank=True, decimal_places=2, max_digits=8, null=True, verbose_name="price per GPU-hour (EUR)"
                    ),
                ),
                ("active", models.BooleanField(default=True, verbose_name="offered")),
            ],
            options={
                "verbose_name": "GPU model",
                "verbose_name_plural": "GPU models",
                "ordering": ["memory_gb", "slug"],
            },
        ),
        migrations.CreateModel(
            name="Image",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=63, unique=True, verbose_name="slug")),
                ("label", models.CharField(max_length=100, verbose_name="label")),
                ("profile", models.CharField(blank=True, max_length=63, verbose_name="instance profile")),
                ("default_user", models.CharField(max_length=32, verbose_name="login user")),
                ("runs_software_blocks", models.BooleanField(default=False, verbose_name="runs the software blocks")),
                ("active", models.BooleanField(default=True, verbose_name="offered")),
            ],
            options={
                "verbose_name": "image",
                "verbose_name_plural": "images",
                "ordering": ["label"],
            },
        ),
        migrations.CreateModel(
            name="InstanceType",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=63, unique=True, verbose_name="name")),
                ("vcpu", models.PositiveIntegerField(verbose_name="vCPU")),
                ("ram_gib", models.PositiveIntegerField(verbose_name="RAM (GiB)")),
                ("gpu_count", models.PositiveIntegerField(verbose_name="GPUs")),
                ("active", models.BooleanField(default=True, verbose_name="offered")),
            ],
            options={
                "verbose_name": "instance type",
                "verbose_name_plural": "instance types",
                "ordering": ["gpu_count", "vcpu", "name"],
            },
        ),
        migrations.CreateModel(
            name="StorageClass",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=63, unique=True, verbose_name="name")),
                ("label", models.CharField(max_length=100, verbose_name="label")),
                ("guidance", models.TextField(blank=True, verbose_name="when to use it")),
                ("active", models.BooleanField(default=True, verbose_name="offered")),
            ],
            options={
                "verbose_name": "storage class",
                "verbose_name_plural": "storage classes",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="AutoApprovalRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("max_gpus", models.PositiveIntegerField(verbose_name="GPUs at most")),
                ("max_lease_hours", models.PositiveIntegerField(verbose_name="lease of at most (hours)")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "gpu_model",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: every model that needs approval.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="auto_approval_rules",
                        to="vms.gpumodel",
                        verbose_name="GPU model",
                    ),
                ),
            ],
            options={
                "verbose_name": "auto-approval rule",
                "verbose_name_plural": "auto-approval rules",
                "ordering": ["gpu_model__slug", "max_gpus"],
            },
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[("member", "Member"), ("manager", "Manager")],
                        default="member",
                        max_length=16,
                        verbose_name="role",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "membership",
                "verbose_name_plural": "memberships",
            },
        ),
        migrations.CreateModel(
            name="OrphanObject",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("namespace", models.CharField(max_length=63, verbose_name="namespace")),
                ("kind", models.CharField(max_length=63, verbose_name="kind")),
                ("name", models.CharField(max_length=253, verbose_name="name")),
                ("vm_id_label", models.CharField(blank=True, max_length=63, verbose_name="VM id label")),
                ("created_at", models.CharField(blank=True, max_length=40, verbose_name="created on the cluster")),
                ("seen_at", models.DateTimeField(verbose_name="last seen")),
            ],
            options={
                "verbose_name": "orphan cluster object",
                "verbose_name_plural": "orphan cluster objects",
                "ordering": ["namespace", "kind", "name"],
                "constraints": [models.UniqueConstraint(fields=("namespace", "kind", "name"), name="one_orphan_row")],
            },
        ),
        migrations.CreateModel(
            name="Preset",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=63, unique=True, verbose_name="slug")),
                ("title", models.CharField(max_length=100, verbose_name="title")),
                ("description", models.TextField(blank=True, verbose_name="description")),
                ("suggested_name", models.CharField(blank=True, max_length=41, verbose_name="suggested VM name")),
                ("system_disk_gib", models.PositiveIntegerField(verbose_name="system disk (GiB)")),
                ("system_disk_class", models.CharField(max_length=63, verbose_name="system disk storage class")),
                ("disks", models.JSONField(blank=True, default=list, verbose_name="additional disks")),
                ("public_ports", models.JSONField(blank=True, default=list, verbose_name="public ports")),
                ("software", models.JSONField(blank=True, default=list, verbose_name="software")),
                ("cloud_config", models.JSONField(blank=True, default=dict, verbose_name="cloud-config additions")),
                ("position", models.PositiveIntegerField(default=0, verbose_name="position")),
                (
                    "gpu_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, to="vms.gpumodel", verbose_name="GPU model"
                    ),
                ),
                (
                    "instance_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, to="vms.instancetype", verbose_name="instance type"
                    ),
                ),
            ],
            options={
                "verbose_name": "preset",
                "verbose_name_plural": "presets",
                "ordering": ["position", "title"],
            },
        ),
        migrations.CreateModel(
            name="Team",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(
                        max_length=56,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?$",
                                "Use lowercase letters, digits and hyphens (at most 56), starting and ending with a letter or digit.",
                            )
                        ],
                        verbose_name="name",
                    ),
                ),
                ("display_name", models.CharField(blank=True, max_length=100, verbose_name="display name")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "members",
                    models.ManyToManyField(
                        related_name="teams",
                        through="vms.Membership",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="members",
                    ),
                ),
            ],
            options={
                "verbose_name": "team",
                "verbose_name_plural": "teams",
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="membership",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="vms.team"
            ),
        ),
        migrations.CreateModel(
            name="TenantQuota",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("resource_name", models.CharField(max_length=253, verbose_name="cluster resource name")),
                ("hard", models.PositiveIntegerField(verbose_name="hard limit")),
                ("used", models.PositiveIntegerField(verbose_name="used")),
                ("observed_at", models.DateTimeField(verbose_name="observed")),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="vms.team",
                        verbose_name="team",
                    ),
                ),
            ],
            options={
                "verbose_name": "tenant quota on the cluster",
                "verbose_name_plural": "tenant quotas on the cluster",
            },
        ),
        migrations.CreateModel(
            name="VirtualMachine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=41, verbose_name="name")),
                ("gpu_count", models.PositiveIntegerField(verbose_name="GPUs")),
                ("image", models.CharField(max_length=63, verbose_name="image")),
                ("system_disk_gib", models.PositiveIntegerField(verbose_name="system disk (GiB)")),
                ("system_disk_class", models.CharField(max_length=63, verbose_name="system disk storage class")),
                ("disks", models.JSONField(blank=True, default=list, verbose_name="additional disks")),
                ("public_ports", models.JSONField(blank=True, default=list, verbose_name="public ports")),
                ("ssh_keys", models.JSONField(blank=True, default=list, verbose_name="SSH public keys")),
                ("software", models.JSONField(blank=True, default=list, verbose_name="software")),
                ("cloud_config", models.TextField(blank=True, verbose_name="additional cloud-config")),
                ("network", models.CharField(blank=True, max_length=63, verbose_name="HPC network")),
                ("justification", models.TextField(blank=True, verbose_name="justification")),
                ("api_shape", models.CharField(default="current", max_length=16, verbose_name="API shape")),
                ("lease_ends_at", models.DateTimeField(blank=True, null=True, verbose_name="lease ends")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending_approval", "Waiting for approval"),
                            ("rejected", "Rejected"),
                            ("approved", "Queued"),
                            ("provisioning", "Provisioning"),
                            ("running", "Running"),
                            ("stopping", "Stopping"),
                            ("stopped", "Stopped"),
                            ("starting", "Starting"),
                            ("deleting", "Deleting"),
                            ("deleted", "Deleted"),
                            ("failed", "Failed"),
                        ],
                        db_index=True,
                        max_length=20,
                        verbose_name="state",
                    ),
                ),
                ("state_changed_at", models.DateTimeField(auto_now_add=True, verbose_name="state changed")),
                ("cluster_status", models.CharField(blank=True, max_length=40, verbose_name="cluster status")),
                ("status_message", models.TextField(blank=True, verbose_name="status message")),
                ("disk_status", models.JSONField(blank=True, default=dict, verbose_name="disk status")),
                ("external_ip", models.GenericIPAddressField(blank=True, null=True, verbose_name="external IP")),
                ("failure_message", models.TextField(blank=True, verbose_name="failure")),
                ("failure_retryable", models.BooleanField(default=False)),
                ("approvers_notified_at", models.DateTimeField(blank=True, null=True)),
                ("approvers_reminded_at", models.DateTimeField(blank=True, null=True)),
                ("lease_reminded_at", models.DateTimeField(blank=True, null=True)),
                ("work_touched_at", models.DateTimeField(blank=True, null=True)),
                ("restart_requested_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="requested")),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "gpu_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, to="vms.gpumodel", verbose_name="GPU model"
                    ),
                ),
                (
                    "instance_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, to="vms.instancetype", verbose_name="instance type"
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vms",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vms",
                        to="vms.team",
                        verbose_name="team",
                    ),
                ),
            ],
            options={
                "verbose_name": "virtual machine",
                "verbose_name_plural": "virtual machines",
                "ordering": ["-created_at"],
                "permissions": [("approve_virtualmachine", "Can approve or reject GPU VM requests")],
            },
        ),
        migrations.CreateModel(
            name="Event",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="when")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("request", "Request"),
                            ("decision", "Decision"),
                            ("state", "State change"),
                            ("action", "Action"),
                            ("cluster", "Cluster"),
                            ("admin", "Administration"),
                            ("access", "Access"),
                            ("lease", "Lease"),
                            ("usage", "Usage"),
                        ],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("target", models.CharField(blank=True, max_length=200, verbose_name="on what")),
                ("message", models.TextField(blank=True, verbose_name="what")),
                ("reason", models.TextField(blank=True, verbose_name="why")),
                ("data", models.JSONField(blank=True, default=dict)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="who",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="vms.team",
                        verbose_name="team",
                    ),
                ),
                (
                    "vm",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="vms.virtualmachine",
                        verbose_name="virtual machine",
                    ),
                ),
            ],
            options={
                "verbose_name": "event",
                "verbose_name_plural": "events",
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ChangeRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(choices=[("extend_lease", "Lease extension")], max_length=16, verbose_name="kind"),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        db_index=True,
                        default="pending",
                        max_length=16,
                        verbose_name="state",
                    ),
                ),
                ("lease_ends_at", models.DateTimeField(blank=True, null=True, verbose_name="new lease end")),
                ("justification", models.TextField(blank=True, verbose_name="justification")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="requested")),
                ("approvers_notified_at", models.DateTimeField(blank=True, null=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "vm",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="change_requests",
                        to="vms.virtualmachine",
                    ),
                ),
            ],
            options={
                "verbose_name": "change request",
                "verbose_name_plural": "change requests",
                "ordering": ["created_at"],
            },
        ),
        migrations.CreateModel(
            name="Quota",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("max_gpus", models.PositiveIntegerField(verbose_name="GPUs at most")),
                (
                    "gpu_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quotas",
                        to="vms.gpumodel",
                        verbose_name="GPU model",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quotas",
                        to="vms.team",
                        verbose_name="team",
                    ),
                ),
            ],
            options={
                "verbose_name": "quota",
                "verbose_name_plural": "quotas",
                "ordering": ["team__name", "gpu_model__slug"],
                "constraints": [
                    models.UniqueConstraint(fields=("team", "gpu_model"), name="one_quota_per_team_and_model")
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.UniqueConstraint(fields=("team", "user"), name="one_membership_per_team"),
        ),
        migrations.AddConstraint(
            model_name="tenantquota",
            constraint=models.UniqueConstraint(fields=("team", "resource_name"), name="one_tenant_quota_per_resource"),
        ),
        migrations.AddIndex(
            model_name="virtualmachine",
            index=models.Index(fields=["team", "state"], name="vms_virtual_team_id_49b01e_idx"),
        ),
        migrations.AddConstraint(
            model_name="virtualmachine",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ["deleted", "rejected"]), _negated=True),
                fields=("team", "name"),
                name="vm_name_unique_in_team_while_alive",
            ),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["vm", "created_at"], name="vms_event_vm_id_916b8a_idx"),
        ),
        migrations.AddConstraint(
            model_name="changerequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "pending")), fields=("vm", "kind"), name="one_pending_change_per_kind"
            ),
        ),
        migrations.RunPython(load_catalogue, migrations.RunPython.noop),
    ]
