"""The catalogue as the validation and manifest code sees it, read from the admin-editable
tables (a fixed number of queries, whatever their size)."""

from django.conf import settings

from vms.catalogue import seed
from vms.catalogue.offer import Catalogue, GpuModelInfo, ImageInfo, InstanceTypeInfo, Limits, SpecDefaults
from vms.models import GpuModel, Image, InstanceType, StorageClass


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
        software=tuple(block["slug"] for block in seed.SOFTWARE_BLOCKS),
        limits=Limits(**seed.LIMITS),
    )


def spec_defaults() -> SpecDefaults:
    return SpecDefaults.from_seed()
