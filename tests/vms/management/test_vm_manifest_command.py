import io

import pytest
import yaml
from django.core.management import call_command

from tests.vms.keys_and_catalogue import ED25519_KEY
from tests.vms.spec.documents import BAD_INPUTS, DELETE, base_document
from vms.models import VirtualMachine
from vms.render.manifests import validate_against_upstream

pytestmark = pytest.mark.django_db


def run(tmp_path, document: str, *args):
    path = tmp_path / "spec.yaml"
    path.write_text(document)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("vm_manifest", str(path), *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


SEED_LLM = """
name: llm-training
team: ml-research
instance_type: g8.4xlarge
gpu_model: H100
system_disk: {size: 500Gi, storage_class: replicated}
disks:
  - {name: datasets, size: 10000Gi}
  - {name: checkpoints, size: 5000Gi, storage_class: replicated}
justification: fine-tune a model
"""


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_prints_manifests_that_validate_upstream(tmp_path, team, shape):
    document = SEED_LLM if shape == "current" else SEED_LLM.split("disks:")[0] + "justification: x\n"
    code, out, err = run(tmp_path, document, "--api-shape", shape)
    assert code == 0, err
    objects = list(yaml.safe_load_all(out))
    kinds = [o["kind"] for o in objects]
    assert kinds == (["VMDisk", "VMDisk", "VMDisk", "VMInstance"] if shape == "current" else ["VirtualMachine"])
    for obj in objects:
        assert validate_against_upstream(obj) == []
    assert "32 vCPUs per GPU" in err
    assert not VirtualMachine.objects.exists()


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("name: a\nteam: nobody\n", "team: No team named “nobody”."),
        ("name: Bad_Name\nteam: ml-research\n", "name: "),
        ("- a list\n", "document: The document must be a mapping"),
        ("name: x\nteam: ml-research\nsystem_disk: {size: 10Gb}\n", "system_disk.size: "),
        ("name: x\nteam: ml-research\ngpu_model: V100\n", "gpu_model: Unknown GPU model “V100”."),
        ("name: x\nteam: ml-research\npublic_ports: [22, '80']\n", "public_ports[1]: Must be a port number."),
        ("name: x\nteam: ml-research\nunknown: 1\n", "unknown: Unknown key."),
        ("name: x\nteam: ml-research\ndisks: [{name: d, size: 1Gi}]\n", None),
    ],
)
def test_bad_documents_print_each_error_and_exit_1(tmp_path, team, document, expected):
    code, out, err = run(tmp_path, document, "--api-shape", "current")
    if expected is None:
        assert code == 0
        return
    assert code == 1
    assert out == ""
    assert expected in err, err


def test_legacy_shape_rejects_additional_disks(tmp_path, team):
    code, _, err = run(tmp_path, SEED_LLM, "--api-shape", "legacy")
    assert code == 1
    assert "disks:" in err and "0.x" in err


def test_unreadable_and_invalid_yaml_are_command_errors(tmp_path, team):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("vm_manifest", str(tmp_path / "missing.yaml"))
    with pytest.raises(CommandError, match="not valid YAML"):
        run(tmp_path, "name: [unclosed")


# The spec module's table of bad documents, run through the command itself: same rules, same field.
COMMAND_CASES = [case for case in BAD_INPUTS if case.values[2] is None]  # no catalogue change needed


@pytest.mark.parametrize(("overrides", "api_shape", "catalogue_change", "field", "fragment"), COMMAND_CASES)
def test_every_bad_document_fails_the_command_on_its_field(
    tmp_path, overrides, api_shape, catalogue_change, field, fragment
):
    from vms.models import Team
    from vms.spec.document import DOCUMENT_PATH_BY_FIELD

    Team.objects.create(name="research")
    document = base_document(ED25519_KEY)
    for key, value in overrides.items():
        if value is DELETE:
            del document[key]
        elif key == "system_disk" and isinstance(value, dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    code, out, err = run(tmp_path, yaml.safe_dump(document, allow_unicode=True), "--api-shape", api_shape)
    label = "document" if field == "__all__" else DOCUMENT_PATH_BY_FIELD.get(field, field)
    assert code == 1, err
    assert out == ""
    assert any(line.startswith(f"{label}: ") and fragment in line for line in err.splitlines()), err


def test_a_name_the_team_already_uses_fails_the_command(tmp_path, team, member):
    from tests.vms.factories import make_vm

    make_vm(team=team, owner=member, name="llm-training")
    code, out, err = run(tmp_path, SEED_LLM, "--api-shape", "current")
    assert code == 1 and out == ""
    assert "name: Team ml-research already has a VM named “llm-training”." in err


def test_the_document_can_come_from_standard_input(team, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(SEED_LLM))
    out = io.StringIO()
    call_command("vm_manifest", "-", "--api-shape", "current", stdout=out, stderr=io.StringIO())
    assert [obj["kind"] for obj in yaml.safe_load_all(out.getvalue())][-1] == "VMInstance"
