from django.db import migrations


def load_catalogue(apps, schema_editor):
    from vms.catalogue import catalogue_seed

    catalogue_seed(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("vms", "0002_catalogue_and_vms")]

    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
