"""Manifests: the objects the cluster gets, their order, names and labels, and the upstream schemas."""

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from tests.vms.keys_and_catalogue import CATALOGUE, ED25519_KEY
from vms.catalogue import seed
from vms.render.manifests import (
    LABEL_MANAGED_BY,
    LABEL_VM_ID,
    LABEL_VM_NAME,
    SCHEMAS,
    object_names,
    render_manifests,
    to_yaml,
    validate_against_upstream,
)
from vms.spec.request import LEGACY_SYSTEM_IMAGES, DiskSpec, preset_spec
from vms.spec.validation import validate_spec

GOLDEN_DIR = Path(__file__).parent / "golden"
# A fixed key keeps the golden files stable.
GOLDEN_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMC2rlzOT2tMIz5pLIA9d8+2nWeuUMhQlGoE/Lq8thr alice@laptop"
PRESETS = {preset["slug"]: preset for preset in seed.PRESETS}


def spec_of(preset_slug: str, *, api_shape: str = "current", ssh_key: str = ED25519_KEY, **changes):
    spec = preset_spec(PRESETS[preset_slug], team="research", ssh_keys=(ssh_key,), justification="seed example")
    if api_shape == "legacy":
        # The legacy app has no additional disks: validation refuses them, so requests drop them.
        spec = dataclasses.replace(spec, disks=())
    return dataclasses.replace(spec, **changes)


def render(spec, api_shape="current", **options):
    return render_manifests(
        spec, catalogue=CATALOGUE, namespace="tenant-research", vm_id=42, api_shape=api_shape, **options
    )


@pytest.mark.parametrize("api_shape", ["current", "legacy"])
@pytest.mark.parametrize("preset_slug", PRESETS)
@pytest.mark.parametrize("gpu_model", [gpu["slug"] for gpu in seed.GPU_MODELS])
def test_every_instance_type_gpu_model_and_preset_renders_valid_objects(api_shape, preset_slug, gpu_model):
    problems = []
    for instance_type in seed.INSTANCE_TYPES:
        spec = spec_of(preset_slug, api_shape=api_shape, gpu_model=gpu_model, instance_type=instance_type["name"])
        result = validate_spec(spec, catalogue=CATALOGUE, api_shape=api_shape)
        assert result.errors == {}, (instance_type["name"], result.errors)

        objects = render(spec, api_shape)

        gpus = objects[-1]["spec"]["gpus"]
        assert gpus == [{"name": CATALOGUE.gpu_models[gpu_model].resource_name}] * instance_type["gpus"]
        for obj in objects:
            problems += validate_against_upstream(obj)
    assert problems == []


def test_current_shape_creates_disks_first_boot_disk_first_then_the_instance():
    spec = spec_of("llm-training")

    objects = render(spec)

    assert [(obj["kind"], obj["metadata"]["name"]) for obj in objects] == [
        ("VMDisk", "llm-training-os"),
        ("VMDisk", "llm-training-datasets"),
        ("VMDisk", "llm-training-checkpoints"),
        ("VMInstance", "llm-training"),
    ]
    assert objects[-1]["spec"]["disks"] == [{"name": obj["metadata"]["name"]} for obj in objects[:-1]]
    assert objects[0]["spec"]["source"] == {"image": {"name": "ubuntu"}}
    assert [obj["spec"]["storage"] for obj in objects[:-1]] == ["500Gi", "10000Gi", "5000Gi"]
    assert objects[1]["spec"]["source"] == {}


def test_every_object_carries_the_portal_labels():
    objects = render(spec_of("llm-training")) + render(spec_of("llm-training", api_shape="legacy"), "legacy")

    for obj in objects:
        assert obj["metadata"]["namespace"] == "tenant-research"
        assert obj["metadata"]["labels"] == {
            LABEL_MANAGED_BY: "hikube-gpu-portal",
            LABEL_VM_ID: "42",
            LABEL_VM_NAME: "llm-training",
        }


def test_ports_ssh_keys_network_and_cloud_init_reach_the_instance():
    spec = spec_of("inference-api", network="gpu-interconnect")

    instance = render(spec)[-1]["spec"]

    assert (instance["external"], instance["externalMethod"], instance["externalPorts"]) == (
        True,
        "PortList",
        [22, 8000],
    )
    assert instance["sshKeys"] == [ED25519_KEY]
    assert instance["networks"] == [{"name": "gpu-interconnect"}]
    assert (instance["instanceType"], instance["instanceProfile"]) == ("g1.large", "ubuntu")
    cloud_config = yaml.safe_load(instance["cloudInit"])
    assert instance["cloudInit"].startswith("#cloud-config\n")
    assert cloud_config["users"][0]["ssh_authorized_keys"] == [ED25519_KEY]
    assert cloud_config["runcmd"][-2:] == [
        "apt-get install -y tensorrt",
        "/opt/venv/bin/pip install fastapi uvicorn transformers",
    ]


def test_without_public_ports_the_vm_is_not_exposed():
    instance = render(spec_of("dual-a100", public_ports=()))[-1]["spec"]

    assert (instance["external"], instance["externalPorts"]) == (False, [])


def test_power_state_follows_running():
    assert render(spec_of("dual-a100"), running=False)[-1]["spec"]["runStrategy"] == "Halted"
    assert render(spec_of("dual-a100"), "legacy", running=False)[0]["spec"]["running"] is False
    assert render(spec_of("dual-a100"))[-1]["spec"]["runStrategy"] == "Always"


def test_legacy_shape_is_one_virtual_machine_with_its_system_disk_inline():
    (vm,) = render(spec_of("hpc-quad-h100", api_shape="legacy"), "legacy")

    assert (vm["kind"], vm["metadata"]["name"]) == ("VirtualMachine", "hpc-quad-gpu")
    assert vm["spec"]["systemDisk"] == {"image": "ubuntu", "storage": "500Gi", "storageClass": "replicated"}
    assert vm["spec"]["running"] is True
    assert "runStrategy" not in vm["spec"] and "disks" not in vm["spec"]


@pytest.mark.parametrize("changes", [{"disks": (DiskSpec("data", 10, "replicated"),)}, {"network": "gpu-interconnect"}])
def test_legacy_rendering_refuses_what_it_would_silently_drop(changes):
    with pytest.raises(ValueError, match="legacy"):
        render(spec_of("dual-a100", **changes), "legacy")


def test_unknown_api_shape_is_refused():
    with pytest.raises(ValueError, match="api_shape"):
        render(spec_of("dual-a100"), "v2")


def test_object_names_follow_cozystack_prefixes_and_fit_their_limits():
    spec = spec_of("dual-a100", name="a" * 41, disks=(DiskSpec("abc", 10, "local"),))

    names = object_names(spec)

    assert names.app_kind == "VMInstance"
    assert names.kubevirt_vm == names.service == "vm-instance-" + "a" * 41
    assert [(disk.disk, disk.vmdisk, disk.data_volume) for disk in names.disks] == [
        ("os", "a" * 41 + "-os", "vm-disk-" + "a" * 41 + "-os"),
        ("abc", "a" * 41 + "-abc", "vm-disk-" + "a" * 41 + "-abc"),
    ]
    assert max(len(disk.vmdisk) for disk in names.disks) <= 45
    assert all(len(name) <= 63 for name in (names.kubevirt_vm, *(disk.data_volume for disk in names.disks)))
    assert validate_spec(spec, catalogue=CATALOGUE, api_shape="current").errors == {}
    assert all(validate_against_upstream(obj) == [] for obj in render(spec))


def test_legacy_object_names():
    names = object_names(spec_of("dual-a100"), api_shape="legacy")

    assert (names.app_kind, names.app_name) == ("VirtualMachine", "dual-gpu-vm")
    assert names.kubevirt_vm == names.service == "virtual-machine-dual-gpu-vm"
    assert [(disk.disk, disk.vmdisk, disk.data_volume) for disk in names.disks] == [
        ("os", None, "virtual-machine-dual-gpu-vm")
    ]


def test_to_yaml_round_trips_and_keeps_cloud_init_readable():
    objects = render(spec_of("render-farm"))

    text = to_yaml(objects)

    assert list(yaml.safe_load_all(text)) == objects
    assert "  cloudInit: |\n    #cloud-config\n" in text


# --- The upstream schemas catch what Cozystack would silently ignore ------------------------------


def test_the_seeds_own_keys_are_caught():
    seed_style = render(spec_of("dual-a100", api_shape="legacy"), "legacy")[0]
    seed_style["spec"]["systemDisk"] = {"image": "ubuntu", "size": "200Gi", "storageClass": "replicated"}
    seed_style["spec"]["additionalDisks"] = [{"name": "scratch-disk", "size": "2000Gi"}]

    problems = validate_against_upstream(seed_style)

    assert any("'storage' is a required property" in problem for problem in problems)
    assert any("'size' was unexpected" in problem for problem in problems)
    assert any("'additionalDisks' was unexpected" in problem for problem in problems)


def test_wrong_types_names_and_kinds_are_caught():
    instance = render(spec_of("dual-a100"))[-1]
    instance["spec"]["externalPorts"] = ["22"]
    instance["metadata"]["name"] = "a" * 42

    problems = validate_against_upstream(instance)

    assert "VMInstance 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': name must have 1 to 41 characters" in problems
    assert any("spec.externalPorts.0: '22' is not of type 'integer'" in problem for problem in problems)
    assert validate_against_upstream({"kind": "Pod"}) == [
        "unknown kind 'Pod'; expected one of ['VMDisk', 'VMInstance', 'VirtualMachine']"
    ]


def test_the_legacy_image_list_and_profiles_match_the_legacy_schema():
    legacy = SCHEMAS["VirtualMachine"]["properties"]

    assert tuple(legacy["systemDisk"]["properties"]["image"]["enum"]) == LEGACY_SYSTEM_IMAGES
    assert {image["profile"] for image in seed.IMAGES} <= set(legacy["instanceProfile"]["enum"])


# --- Golden files for the seed's examples ---------------------------------------------------------


@pytest.mark.parametrize("api_shape", ["current", "legacy"])
@pytest.mark.parametrize("preset_slug", PRESETS)
def test_seed_examples_match_their_golden_files(preset_slug, api_shape):
    golden = GOLDEN_DIR / f"{preset_slug}.{api_shape}.yaml"

    text = to_yaml(render(spec_of(preset_slug, api_shape=api_shape, ssh_key=GOLDEN_SSH_KEY), api_shape))

    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden.name} changed; rerun with UPDATE_GOLDEN=1 and review the diff"
