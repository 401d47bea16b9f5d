"""The catalogue as the pages, validation and manifests see it, read from the admin-editable
tables once per change, not once per request.

`catalogue_rows()` keeps the tables' rows in the process, with the version they were read at.
Saving or deleting a row (the admin does) writes a new version to the shared cache
(vms.catalogue.version), and every process reads the tables again on its next call: five
queries after a change, one cache read otherwise. Without a cache shared by every process
(`make run` without Redis: each process has its own) the rows are read on every call."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.query import ModelIterable
from django.utils.safestring import SafeString

from hikube_portal.fragments import rendered_rows_of_values, serialized_rows_of_values
from vms.catalogue import seed
from vms.catalogue.offer import Catalogue, GpuModelInfo, ImageInfo, InstanceTypeInfo, Limits, SpecDefaults
from vms.catalogue.version import catalogue_version
from vms.models import GpuModel, Image, InstanceType, Preset, StorageClass, VirtualMachine


@dataclass(frozen=True)
class CatalogueRows:
    """Every row of the catalogue tables, active or not, in their admin order."""

    gpu_models: tuple[GpuModel, ...]
    instance_types: tuple[InstanceType, ...]
    images: tuple[Image, ...]
    storage_classes: tuple[StorageClass, ...]
    presets: tuple[Preset, ...]

    def preset(self, slug: str) -> Preset | None:
        return next((preset for preset in self.presets if preset.slug == slug), None)


# (version, rows) as last read by this process; replaced whole, so readers need no lock.
_held: list[tuple[str, CatalogueRows]] = []


def _read() -> CatalogueRows:
    return CatalogueRows(
        gpu_models=tuple(GpuModel.objects.all()),
        instance_types=tuple(InstanceType.objects.all()),
        images=tuple(Image.objects.all()),
        storage_classes=tuple(StorageClass.objects.all()),
        presets=tuple(Preset.objects.select_related("instance_type", "gpu_model")),
    )


def catalogue_rows() -> CatalogueRows:
    """The catalogue tables as of their last change (module docstring). The rows are shared:
    read them, never change them."""
    if not settings.CACHE_SHARED_BY_PROCESSES:
        return _read()
    version = catalogue_version()
    if _held and _held[0][0] == version:
        return _held[0][1]
    rows = _read()
    _held[:] = [(version, rows)]
    return rows


def catalogue_attacher() -> Callable[[VirtualMachine], VirtualMachine]:
    """A function that gives a VM its instance type and GPU model from the held catalogue (shared
    rows: read them, never change them), and returns it. A row newer than the held catalogue is
    left to Django's lazy read."""
    rows = catalogue_rows()
    instance_types = {row.pk: row for row in rows.instance_types}
    gpu_models = {row.pk: row for row in rows.gpu_models}
    instance_type_field = VirtualMachine.instance_type.field
    gpu_model_field = VirtualMachine.gpu_model.field

    def attach(vm: VirtualMachine) -> VirtualMachine:
        if (instance_type := instance_types.get(vm.instance_type_id)) is not None:
            instance_type_field.set_cached_value(vm, instance_type)
        if (gpu_model := gpu_models.get(vm.gpu_model_id)) is not None:
            gpu_model_field.set_cached_value(vm, gpu_model)
        return vm

    return attach


class _VmsWithCatalogue(ModelIterable):
    """VMs whose instance type and GPU model are the catalogue's rows held in the process. Joining
    those small tables costs PostgreSQL more to plan than to run: most of a VM list's query."""

    def __iter__(self):
        return map(catalogue_attacher(), super().__iter__())


def with_catalogue(vms: QuerySet[VirtualMachine], *, fields: Sequence[str] | None = None) -> QuerySet[VirtualMachine]:
    """`vms` with their instance type and GPU model from the held catalogue, not a join. Shared
    rows: read them, never change them. `fields`: only these columns (what a list's rows show),
    joining the relations they name; a VM's spec and JSON stay in the database."""
    if fields is None:
        vms = vms.all()
    else:
        joined = {field.split("__")[0] for field in fields if "__" in field}
        # The catalogue's ids too: the rows are attached by them.
        vms = vms.select_related(*joined).only(*fields, "instance_type", "gpu_model")
    vms._iterable_class = _VmsWithCatalogue
    return vms


def catalogue_from_db(*, offered_only: bool = True) -> Catalogue:
    """The catalogue new requests choose from (`offered_only`), or all of it: a VM recorded
    before an admin withdrew its image, GPU model or instance type must still render."""
    return catalogue_of(catalogue_rows(), offered_only=offered_only)


def catalogue_of(rows: CatalogueRows, *, offered_only: bool = True) -> Catalogue:
    """`catalogue_from_db` from rows already read (a page that also lists them reads once)."""

    def offered(items):
        return [item for item in items if item.active or not offered_only]

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
            for gpu in offered(rows.gpu_models)
        },
        instance_types={
            it.name: InstanceTypeInfo(name=it.name, vcpu=it.vcpu, ram_gib=it.ram_gib, gpus=it.gpu_count)
            for it in offered(rows.instance_types)
        },
        images={
            image.slug: ImageInfo(
                slug=image.slug,
                profile=image.profile,
                default_user=image.default_user,
                runs_software_blocks=image.runs_software_blocks,
            )
            for image in offered(rows.images)
        },
        storage_classes=tuple(sorted(storage.name for storage in offered(rows.storage_classes))),
        networks=tuple(settings.CLUSTER_HPC_NETWORKS),
        software=tuple(block["slug"] for block in seed.SOFTWARE_BLOCKS),
        limits=Limits(**seed.LIMITS),
    )


def spec_defaults() -> SpecDefaults:
    return SpecDefaults.from_seed()


def rendered_vm_rows(
    template_name: str,
    rows: list[dict],
    vms: QuerySet[VirtualMachine],
    *,
    name: str = "vm",
    row_of: Callable[[VirtualMachine], object] | None = None,
    extra: Callable[[dict], dict] | None = None,
) -> list[SafeString]:
    """`rows` (row_values(vms) of a page) rendered by the partial with each VM (or `row_of(vm)`)
    as `name`, from the cache (hikube_portal.fragments.rendered_rows_of_values). A VM carries the
    held catalogue's rows, whose version is therefore part of the key."""
    return rendered_rows_of_values(
        template_name, rows, vms, name=name, row_of=row_of, extra=extra, depends_on=(catalogue_version(),)
    )


def serialized_vm_rows(serializer_class: type, rows: list[dict], vms: QuerySet[VirtualMachine]) -> list[dict]:
    """`rows` (row_values(vms) of a page) as `serializer_class` gives each VM, from the cache
    (hikube_portal.fragments.serialized_rows_of_values), the held catalogue's version in the key."""
    return serialized_rows_of_values(serializer_class, rows, vms, depends_on=(catalogue_version(),))
