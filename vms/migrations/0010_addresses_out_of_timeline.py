"""The status sync's timeline lines no longer carry the VM's address (issue 12, finding 4): every
reader of a VM sees its timeline, so the address there got around the audited SSH reveal. The
lines already recorded say the same, without it."""

from django.db import migrations

WITHOUT_ADDRESS = {
    "Running — ssh %(user)s@%(ip)s": "Running — reachable over SSH",
    "Running — public IP %(ip)s": "Running — public IP assigned",
    "Public IP: %(ip)s": "Public IP changed",
}


def forwards(apps, schema_editor):
    Event = apps.get_model("vms", "Event")
    for old, new in WITHOUT_ADDRESS.items():
        Event.objects.filter(message=old).update(message=new, data={})


class Migration(migrations.Migration):
    dependencies = [("vms", "0009_restart_requested_at")]

    # The addresses are not put back: there is nothing to reverse.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
