"""The migrations: squashed before the first release, self-contained, in step with the models,
and loading the catalogue the seed describes."""

import ast
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.support.worker import REPO
from vms.catalogue import seed
from vms.models import GpuModel, Image, InstanceType, Preset, StorageClass

MIGRATION_FILES = sorted(Path(REPO).glob("*/migrations/0*.py"))
PORTAL_PACKAGES = {"hikube_portal", "vms", "monitoring", "devcluster", "tests"}


@pytest.mark.django_db
def test_makemigrations_finds_nothing_to_do():
    # Exits non-zero (SystemExit) when a model changed without its migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_a_migration_imports_no_application_code(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert {name.split(".")[0] for name in imported} & PORTAL_PACKAGES == set()


@pytest.mark.django_db
def test_a_new_database_holds_the_seed_catalogue():
    """The initial migration's frozen copy still equals the seed: a change to the seed needs a
    data migration for the installations that already exist, and this test says so."""
    assert sorted(GpuModel.objects.values_list("slug", "resource_name", "capacity", "needs_approval")) == sorted(
        (row["slug"], row["resource_name"], row["capacity"], row["needs_approval"]) for row in seed.GPU_MODELS
    )
    assert sorted(InstanceType.objects.values_list("name", "vcpu", "ram_gib", "gpu_count")) == sorted(
        (row["name"], row["vcpu"], row["ram_gib"], row["gpus"]) for row in seed.INSTANCE_TYPES
    )
    assert sorted(Image.objects.values_list("slug", flat=True)) == sorted(row["slug"] for row in seed.IMAGES)
    assert sorted(StorageClass.objects.values_list("name", flat=True)) == sorted(
        row["name"] for row in seed.STORAGE_CLASSES
    )
    presets = Preset.objects.order_by("position").values_list(
        "slug", "instance_type__name", "gpu_model__slug", "system_disk_gib", "software", "cloud_config"
    )
    assert list(presets) == [
        (
            row["slug"],
            row["instance_type"],
            row["gpu_model"],
            row["system_disk_gib"],
            row["software"],
            row["cloud_config"],
        )
        for row in seed.PRESETS
    ]


REPLACED = [
    "0001_initial",
    "0002_catalogue_and_vms",
    "0003_seed_catalogue",
    "0004_cluster_sync",
    "0005_governance",
    "0006_change_requests_are_lease_extensions",
    "0007_drop_synced_at",
    "0008_cluster_capacity",
    "0009_restart_requested_at",
    "0010_addresses_out_of_timeline",
    "0011_presets_follow_the_vcpu_per_gpu_advice",
]
SHOW_VMS_MIGRATIONS = textwrap.dedent("""
    import django
    from django.core.management import call_command
    django.setup()
    call_command("migrate", verbosity=0)
    call_command("showmigrations", "vms", "monitoring")
""")


def test_an_installation_made_before_the_squash_upgrades_without_running_anything(tmp_path):
    """A database migrated through the old files counts as migrated: `replaces` maps them."""
    database = tmp_path / "portal.sqlite3"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hikube_portal.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "PORTAL_VAR_DIR": str(tmp_path),
    }

    def show() -> str:
        result = subprocess.run(
            [sys.executable, "-c", SHOW_VMS_MIGRATIONS], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "[X] 0001_squashed" in show()
    # Rewrite the record as the old files left it: every replaced migration, not the squash.
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM django_migrations WHERE name = '0001_squashed'")
        connection.executemany(
            "INSERT INTO django_migrations (app, name, applied) VALUES (?, ?, '2026-06-01')",
            [("vms", name) for name in REPLACED] + [("monitoring", "0001_initial"), ("monitoring", "0002_idle_status")],
        )
    # Running the squash again would fail on its first CreateModel (the tables exist): `show`
    # asserts that migrate succeeded, and migrate records the squash as applied.
    listing = show()
    assert listing.count("[X] 0001_squashed") == 2, listing
    recorded = sqlite3.connect(database).execute("SELECT app FROM django_migrations WHERE name = '0001_squashed'")
    assert sorted(row[0] for row in recorded) == ["monitoring", "vms"]
