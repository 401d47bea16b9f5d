"""The seed's presets moved to instance types with 16 vCPUs and 64 GiB per GPU, as the seed's own
best practices advise (vms.catalogue_data). Existing rows move too, unless an admin changed them."""

from django.db import migrations

# preset slug: (instance type before, after). Literal: a migration must not follow later edits.
MOVES = {
    "dual-a100": ("g2.xlarge", "g2.large"),
    "hpc-quad-h100": ("g4.2xlarge", "g4.xlarge"),
    "llm-training": ("g8.4xlarge", "g8.2xlarge"),
    "render-farm": ("g2.xlarge", "g2.large"),
}


def move(apps, *, backwards: bool):
    preset = apps.get_model("vms", "Preset")
    instance_type = apps.get_model("vms", "InstanceType")
    for slug, (before, after) in MOVES.items():
        old, new = (after, before) if backwards else (before, after)
        target = instance_type.objects.filter(name=new).first()
        if target is not None:
            preset.objects.filter(slug=slug, instance_type__name=old).update(instance_type=target)


class Migration(migrations.Migration):
    dependencies = [("vms", "0010_addresses_out_of_timeline")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: move(apps, backwards=False),
            lambda apps, schema_editor: move(apps, backwards=True),
        ),
    ]
