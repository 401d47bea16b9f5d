"""Migration 0011 moves the presets of an existing installation to the instance types the seed's
best practices allow, and leaves alone a preset an admin changed."""

import subprocess
import sys
import textwrap

from tests.support.worker import REPO

# Runs in a child process on a throwaway SQLite file: the suite's database is already migrated.
MIGRATE_AN_OLD_INSTALLATION = textwrap.dedent("""
    import django
    from django.core.management import call_command
    django.setup()
    from vms.models import InstanceType, Preset

    call_command("migrate", "vms", "0010", verbosity=0)
    # The presets as the seed loaded them before, one of them since edited by an admin.
    for slug, name in (("dual-a100", "g2.xlarge"), ("hpc-quad-h100", "g4.2xlarge"),
                       ("llm-training", "g8.4xlarge"), ("render-farm", "g4.4xlarge")):
        Preset.objects.filter(slug=slug).update(instance_type=InstanceType.objects.get(name=name))
    call_command("migrate", "vms", verbosity=0)
    print(sorted(Preset.objects.values_list("slug", "instance_type__name")))
""")


def test_existing_presets_move_unless_an_admin_changed_them(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hikube_portal.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", MIGRATE_AN_OLD_INSTALLATION],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        [
            ("dual-a100", "g2.large"),
            ("hpc-quad-h100", "g4.xlarge"),
            ("inference-api", "g1.large"),
            ("llm-training", "g8.2xlarge"),
            ("render-farm", "g4.4xlarge"),
        ]
    )
