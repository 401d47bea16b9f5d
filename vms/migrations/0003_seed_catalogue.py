"""Load the seed document's catalogue (vms.catalogue_data) into the admin-editable tables.

Rows that already exist are left as admins edited them."""

from django.db import migrations


def load_catalogue(apps, schema_editor):
    from vms import catalogue_data

    gpu_model = apps.get_model("vms", "GpuModel")
    instance_type = apps.get_model("vms", "InstanceType")
    image = apps.get_model("vms", "Image")
    storage_class = apps.get_model("vms", "StorageClass")
    preset = apps.get_model("vms", "Preset")

    for row in catalogue_data.GPU_MODELS:
        gpu_model.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in catalogue_data.INSTANCE_TYPES:
        instance_type.objects.get_or_create(
            name=row["name"], defaults={"vcpu": row["vcpu"], "ram_gib": row["ram_gib"], "gpu_count": row["gpus"]})
    for row in catalogue_data.IMAGES:
        image.objects.get_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
    for row in catalogue_data.STORAGE_CLASSES:
        storage_class.objects.get_or_create(name=row["name"], defaults={"label": row["label"],
                                                                       "guidance": row["guidance"]})
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


class Migration(migrations.Migration):
    dependencies = [("vms", "0002_catalogue_and_vms")]

    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
