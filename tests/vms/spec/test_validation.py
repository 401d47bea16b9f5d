"""Validation beyond the document: names that fit every derived object, best-practice warnings, presets."""

import dataclasses

import pytest

from tests.vms.keys_and_catalogue import CATALOGUE, DEFAULTS, ED25519_KEY
from tests.vms.spec.documents import base_document, errors_for
from vms.catalogue import seed
from vms.catalogue.offer import InstanceTypeInfo
from vms.spec.document import parse_spec_document
from vms.spec.request import VmSpec, preset_spec
from vms.spec.validation import validate_spec


def test_the_longest_names_fit_every_derived_object():
    document = base_document(ED25519_KEY) | {"name": "a" * 41, "disks": [{"name": "abc", "size": "1Gi"}]}

    assert errors_for(document) == {}


def warnings_for(spec, catalogue=CATALOGUE):
    result = validate_spec(spec, catalogue=catalogue, api_shape="current")
    assert result.ok, result.errors
    return result.warnings


def quick_spec(key: str, **changes) -> VmSpec:
    spec = VmSpec(
        name="quick",
        team="research",
        instance_type="g1.medium",
        gpu_model="L40S",
        image="ubuntu",
        system_disk_gib=100,
        system_disk_class="replicated",
        public_ports=(22,),
        ssh_keys=(key,),
        software=("dcgm-exporter",),
    )
    return dataclasses.replace(spec, **changes)


def test_a_balanced_request_has_no_warning():
    assert warnings_for(quick_spec(ED25519_KEY)) == []


def test_best_practices_are_warnings_not_errors():
    spec = quick_spec(ED25519_KEY, instance_type="g1.4xlarge")

    assert warnings_for(spec) == ["g1.4xlarge has 128 vCPUs per GPU; Hikube recommends 8 to 16."]


def test_too_little_ram_per_gpu_is_a_warning():
    small = InstanceTypeInfo(name="g2.small", vcpu=16, ram_gib=48, gpus=2)
    catalogue = dataclasses.replace(CATALOGUE, instance_types={"g2.small": small})

    warnings = warnings_for(quick_spec(ED25519_KEY, instance_type="g2.small"), catalogue)

    assert warnings == ["g2.small has 24 GiB of RAM per GPU; Hikube recommends at least 32."]


def test_risky_choices_are_explained_in_warnings():
    spec = quick_spec(ED25519_KEY, system_disk_class="local", software=(), public_ports=(8000,))

    assert warnings_for(spec) == [
        "The system disk is on local storage: it is lost if its node fails. Prefer replicated storage.",
        "Without the GPU metrics block (DCGM exporter) the GPU charts will stay empty.",
        "Port 22 is not public: your SSH keys work only from inside the cluster.",
    ]
    assert warnings_for(quick_spec(ED25519_KEY, ssh_keys=())) == [
        "Without an SSH key you can reach the VM only through its console."
    ]


@pytest.mark.parametrize("preset", seed.PRESETS, ids=lambda preset: preset["slug"])
def test_every_preset_is_a_valid_request(preset):
    spec = preset_spec(preset, team="research", ssh_keys=(ED25519_KEY,), justification="seed example")

    assert validate_spec(spec, catalogue=CATALOGUE, api_shape="current").errors == {}


def test_validation_refuses_an_unknown_api_shape():
    with pytest.raises(ValueError, match="api_shape"):
        validate_spec(quick_spec(ED25519_KEY), catalogue=CATALOGUE, api_shape="v2")


def test_the_seed_catalogue_is_complete():
    assert [gpu["resource_name"] for gpu in seed.GPU_MODELS] == [
        "nvidia.com/AD102GL_L40S",
        "nvidia.com/GA100_A100_PCIE_80GB",
        "nvidia.com/H100_94GB",
    ]
    assert len(seed.INSTANCE_TYPES) == 16
    series_gpus = {series["prefix"]: series["gpus"] for series in seed.GPU_SERIES}
    for instance_type in seed.INSTANCE_TYPES:
        assert instance_type["gpus"] == series_gpus[instance_type["name"].split(".")[0]]
    blocks = [block["slug"] for block in seed.SOFTWARE_BLOCKS]
    for position, block in enumerate(seed.SOFTWARE_BLOCKS):
        assert all(blocks.index(required) < position for required in block["requires"])
    for layout in seed.STORAGE_LAYOUTS:
        assert {disk["storage_class"] for disk in layout["disks"]} <= {"replicated", "local"}


def test_a_blank_network_means_none_as_in_the_form():
    document = base_document(ED25519_KEY)
    document["network"] = ""
    spec, errors = parse_spec_document(document, defaults=DEFAULTS)
    assert errors == {}
    assert spec.network is None
