"""Spec documents: parsing, quantities, and every bad input refused on its own field (no database)."""

import pytest

from tests.vms.keys_and_catalogue import CATALOGUE, DEFAULTS, ED25519_KEY
from tests.vms.spec.documents import BAD_INPUTS, CATALOGUE_CHANGES, DELETE, base_document, errors_for
from vms.catalogue import seed
from vms.spec.document import DOCUMENT_KEYS, DOCUMENT_PATH_BY_FIELD, parse_spec_document
from vms.spec.quantities import parse_quantity_gib
from vms.spec.request import NON_FIELD_ERRORS, DiskSpec, VmSpec
from vms.spec.validation import validate_spec


def test_a_complete_document_parses_into_the_spec_it_describes():
    spec, errors = parse_spec_document(base_document(ED25519_KEY), defaults=DEFAULTS)

    assert errors == {}
    assert spec == VmSpec(
        name="train-1",
        team="research",
        instance_type="g1.large",
        gpu_model="L40S",
        image="ubuntu",
        system_disk_gib=200,
        system_disk_class="replicated",
        disks=(DiskSpec(name="data", size_gib=500, storage_class="replicated"),),
        public_ports=(22,),
        ssh_keys=(ED25519_KEY,),
        software=("nvidia-driver", "dcgm-exporter"),
        cloud_config="packages: [htop]\n",
        network=None,
        justification="",
    )
    assert validate_spec(spec, catalogue=CATALOGUE, api_shape="current").errors == {}


def test_omitted_keys_take_the_form_defaults():
    spec, errors = parse_spec_document({"name": "quick", "team": "research"}, defaults=DEFAULTS)

    assert errors == {}
    form = seed.FORM_DEFAULTS
    assert (spec.instance_type, spec.gpu_model, spec.image) == (
        form["instance_type"],
        form["gpu_model"],
        form["image"],
    )
    assert (spec.system_disk_gib, spec.system_disk_class) == (
        form["system_disk_gib"],
        form["system_disk_class"],
    )
    assert spec.public_ports == tuple(form["public_ports"])
    assert spec.software == tuple(form["software"])
    assert (spec.disks, spec.ssh_keys, spec.cloud_config, spec.network, spec.justification) == (
        (),
        (),
        "",
        None,
        "",
    )
    assert validate_spec(spec, catalogue=CATALOGUE, api_shape="current").errors == {}


def test_null_means_empty_for_lists_and_texts():
    document = {"name": "quick", "team": "research", "disks": None, "public_ports": None, "ssh_keys": None}
    document |= {"software": None, "cloud_config": None, "justification": None, "network": None}

    spec, errors = parse_spec_document(document, defaults=DEFAULTS)

    assert errors == {}
    assert (spec.disks, spec.public_ports, spec.ssh_keys, spec.software) == ((), (), (), ())
    assert (spec.cloud_config, spec.justification, spec.network) == ("", "", None)


def test_a_disk_without_storage_class_gets_the_default_class():
    document = {"name": "quick", "team": "research", "disks": [{"name": "data", "size": "1Ti"}]}

    spec, _ = parse_spec_document(document, defaults=DEFAULTS)

    assert spec.disks == (DiskSpec(name="data", size_gib=1024, storage_class=DEFAULTS.disk_class),)


def test_document_paths_name_the_form_fields_they_feed():
    assert set(DOCUMENT_PATH_BY_FIELD.values()) <= {f"system_disk.{key}" for key in ("size", "storage_class")}
    assert "system_disk" in DOCUMENT_KEYS


@pytest.mark.parametrize(
    ("text", "gib"),
    [
        ("200Gi", 200),
        ("2Ti", 2048),
        ("1.5Ti", 1536),
        ("10240Mi", 10),
        ("2147483648Ki", 2048),
        ("1Pi", 1048576),
    ],
)
def test_quantities_in_whole_gib_are_accepted(text, gib):
    assert parse_quantity_gib(text) == (gib, None)


def test_there_are_at_least_thirty_distinct_bad_inputs():
    assert len({case.id for case in BAD_INPUTS}) == len(BAD_INPUTS) >= 30


@pytest.mark.parametrize(
    ("overrides", "api_shape", "catalogue_change", "field", "fragment"),
    BAD_INPUTS,
)
def test_bad_input_gets_a_clear_message_on_its_field_only(overrides, api_shape, catalogue_change, field, fragment):
    document = base_document(ED25519_KEY)
    for key, value in overrides.items():
        if value is DELETE:
            del document[key]
        elif key == "system_disk":
            document[key] = value if not isinstance(value, dict) else {**document[key], **value}
        else:
            document[key] = value
    catalogue = CATALOGUE_CHANGES[catalogue_change](CATALOGUE) if catalogue_change else CATALOGUE

    errors = errors_for(document, catalogue=catalogue, api_shape=api_shape)

    assert set(errors) == {field}, errors
    assert any(fragment in message for message in errors[field]), errors[field]


def test_a_document_that_is_not_a_mapping_is_refused_as_a_whole():
    spec, errors = parse_spec_document(["name", "vm"], defaults=DEFAULTS)

    assert spec is None
    assert errors == {NON_FIELD_ERRORS: ["The document must be a mapping of keys to values, like “name: my-vm”."]}


def test_every_problem_of_a_document_is_reported_at_once():
    document = {"name": 1, "team": None, "disks": [{"name": "x", "size": 5}], "public_ports": ["a", 22, None]}

    _, errors = parse_spec_document(document, defaults=DEFAULTS)

    assert set(errors) == {"name", "team", "disks[0].size", "public_ports[0]", "public_ports[2]"}
