"""The catalogue as the validation and manifest code sees it, read from the admin-editable
tables (a fixed number of queries, whatever their size)."""

from django.conf import settings

from vms import catalogue_data
from vms.models import GpuModel, Image, InstanceType, StorageClass
from vms.spec import Catalogue, GpuModelInfo, ImageInfo, InstanceTypeInfo, Limits, SpecDefaults


def catalogue_from_db(*, offered_only: bool = True) -> Catalogue:
    """The catalogue new requests choose from (`offered_only`), or all of it: a VM recorded
    before an admin withdrew its image, GPU model or instance type must still render."""
    rows = {"active": True} if offered_only else {}
    return Catalogue(
        gpu_models={
            gpu.slug: GpuModelInfo(
                slug=gpu.slug,
                resource_name=gpu.resource_name,
                needs_approval=gpu.needs_approval,
                memory_gb=gpu.memory_gb,
                capacity=gpu.capacity,
                price_per_gpu_hour=gpu.price_per_gpu_hour,
            )
            for gpu in GpuModel.objects.filter(**rows)
        },
        instance_types={
            it.name: InstanceTypeInfo(name=it.name, vcpu=it.vcpu, ram_gib=it.ram_gib, gpus=it.gpu_count)
            for it in InstanceType.objects.filter(**rows)
        },
        images={
            image.slug: ImageInfo(
                slug=image.slug,
                profile=image.profile,
                default_user=image.default_user,
                runs_software_blocks=image.runs_software_blocks,
            )
            for image in Image.objects.filter(**rows)
        },
        storage_classes=tuple(StorageClass.objects.filter(**rows).values_list("name", flat=True)),
        networks=tuple(settings.CLUSTER_HPC_NETWORKS),
        software=tuple(block["slug"] for block in catalogue_data.SOFTWARE_BLOCKS),
        limits=Limits(**catalogue_data.LIMITS),
    )


def spec_defaults() -> SpecDefaults:
    return SpecDefaults.from_seed()


def catalogue_seed(*, apps) -> None:
    """Load the seed document's catalogue (vms.catalogue_data) into the admin-editable tables.

    `apps` is a migration's historical app registry or django.apps.apps. Rows that already exist
    are left as admins edited them."""
    gpu_model = apps.get_model("vms", "GpuModel")
    instance_type = apps.get_model("vms", "InstanceType")
    image = apps.get_model("vms", "Image")
    storage_class = apps.get_model("vms", "StorageClass")
    preset = apps.get_model("vms", "Preset")

    for row in catalogue_data.GPU_MODELS:
        gpu_model.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in catalogue_data.INSTANCE_TYPES:
        instance_type.objects.get_or_create(
            name=row["name"], defaults={"vcpu": row["vcpu"], "ram_gib": row["ram_gib"], "gpu_count": row["gpus"]}
        )
    for row in catalogue_data.IMAGES:
        image.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in catalogue_data.STORAGE_CLASSES:
        storage_class.objects.get_or_create(
            name=row["name"], defaults={"label": row["label"], "guidance": row["guidance"]}
        )
    for position, row in enumerate(catalogue_data.PRESETS):
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
