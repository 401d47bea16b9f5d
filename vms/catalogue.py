"""The catalogue as the validation and manifest code sees it, read from the admin-editable
tables (a fixed number of queries, whatever their size)."""

from django.conf import settings

from vms import catalogue_data
from vms.models import GpuModel, Image, InstanceType, StorageClass
from vms.spec import Catalogue, GpuModelInfo, ImageInfo, InstanceTypeInfo, Limits, SpecDefaults


def catalogue_from_db() -> Catalogue:
    return Catalogue(
        gpu_models={
            gpu.slug: GpuModelInfo(slug=gpu.slug, resource_name=gpu.resource_name,
                                   needs_approval=gpu.needs_approval, memory_gb=gpu.memory_gb,
                                   capacity=gpu.capacity, price_per_gpu_hour=gpu.price_per_gpu_hour)
            for gpu in GpuModel.objects.filter(active=True)
        },
        instance_types={
            it.name: InstanceTypeInfo(name=it.name, vcpu=it.vcpu, ram_gib=it.ram_gib, gpus=it.gpu_count)
            for it in InstanceType.objects.filter(active=True)
        },
        images={
            image.slug: ImageInfo(slug=image.slug, profile=image.profile, default_user=image.default_user,
                                  runs_software_blocks=image.runs_software_blocks)
            for image in Image.objects.filter(active=True)
        },
        storage_classes=tuple(StorageClass.objects.filter(active=True).values_list("name", flat=True)),
        networks=tuple(settings.CLUSTER_HPC_NETWORKS),
        software=tuple(block["slug"] for block in catalogue_data.SOFTWARE_BLOCKS),
        limits=Limits(**catalogue_data.LIMITS),
    )


def spec_defaults() -> SpecDefaults:
    return SpecDefaults.from_seed()
