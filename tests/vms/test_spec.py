"""Spec documents, quantities, SSH keys and validation rules (no database)."""

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization

from tests.vms.keys_and_catalogue import CATALOGUE, DEFAULTS, ED25519_KEY, private_key, public_key
from vms.catalogue import seed
from vms.catalogue.offer import ImageInfo, InstanceTypeInfo
from vms.spec.document import DOCUMENT_KEYS, DOCUMENT_PATH_BY_FIELD, parse_spec_document
from vms.spec.quantities import parse_quantity_gib
from vms.spec.request import NON_FIELD_ERRORS, DiskSpec, VmSpec, preset_spec
from vms.spec.ssh_keys import check_ssh_public_key
from vms.spec.validation import validate_spec

DELETE = object()


def base_document(ssh_key: str) -> dict:
    return {
        "name": "train-1",
        "team": "research",
        "instance_type": "g1.large",
        "gpu_model": "L40S",
        "image": "ubuntu",
        "system_disk": {"size": "200Gi", "storage_class": "replicated"},
        "disks": [{"name": "data", "size": "500Gi", "storage_class": "replicated"}],
        "public_ports": [22],
        "ssh_keys": [ssh_key],
        "software": ["nvidia-driver", "dcgm-exporter"],
        "cloud_config": "packages: [htop]\n",
        "network": None,
        "justification": "",
    }


def errors_for(document, *, catalogue=CATALOGUE, api_shape="current"):
    spec, errors = parse_spec_document(document, defaults=DEFAULTS)
    if errors:
        assert spec is None
        return errors
    return validate_spec(spec, catalogue=catalogue, api_shape=api_shape).errors


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


H100_NEEDS = {"gpu_model": "H100", "justification": "fine-tuning"}


def bad(case_id, overrides, field, fragment, *, api_shape="current", catalogue_change=None):
    return pytest.param(overrides, api_shape, catalogue_change, field, fragment, id=case_id)


# Each case: an id, overrides of the base document, the field its error lands on, a fragment of the
# message; some need the legacy API shape or a catalogue change.
BAD_INPUTS = [
    bad("unknown-key", {"gpus": 4}, "gpus", "Unknown key. Expected one of: name, team"),
    bad("cloud-config-empty-mapping", {"cloud_config": {}}, "cloud_config", "Must be a string"),
    bad("non-string-key", {1: "x"}, "1", "Unknown key"),
    bad("name-missing", {"name": DELETE}, "name", "This field is required."),
    bad("name-null", {"name": None}, "name", "Must be a string."),
    bad("name-not-string", {"name": 123}, "name", "Must be a string."),
    bad("name-empty", {"name": "  "}, "name", "This field is required."),
    bad("name-too-long", {"name": "a" * 42}, "name", "At most 41 characters"),
    # The real 0.x CRD refuses a 38-character name with a 422, which would fail the VM for good.
    bad(
        "legacy-name-too-long",
        {"name": "a" * 38, "disks": DELETE},
        "name",
        "At most 37 characters (the 0.x VirtualMachine app",
        api_shape="legacy",
    ),
    bad("name-uppercase", {"name": "MyVM"}, "name", "Use lowercase letters"),
    bad("name-leading-digit", {"name": "1vm"}, "name", "starting with a letter"),
    bad("name-trailing-hyphen", {"name": "vm-"}, "name", "ending with a letter or digit"),
    bad("name-dots", {"name": "my.vm"}, "name", "Use lowercase letters"),
    bad("team-missing", {"team": DELETE}, "team", "This field is required."),
    bad("team-list", {"team": ["research"]}, "team", "Must be a string."),
    bad("instance-type-unknown", {"instance_type": "g3.large"}, "instance_type", "Unknown instance"),
    bad("instance-type-null", {"instance_type": None}, "instance_type", "Must be a string."),
    bad("gpu-model-unknown", {"gpu_model": "V100"}, "gpu_model", "Unknown GPU model “V100”."),
    bad("image-unknown", {"image": "windows"}, "image", "Unknown image “windows”."),
    bad("system-disk-bare-int", {"system_disk": {"size": 200}}, "system_disk.size", "200Gi"),
    bad(
        "system-disk-decimal-unit",
        {"system_disk": {"size": "200G"}},
        "system_disk.size",
        "did you mean 200Gi?",
    ),
    bad("system-disk-zero", {"system_disk": {"size": "0Gi"}}, "system_disk.size", "greater than zero"),
    bad("system-disk-negative", {"system_disk": {"size": "-5Gi"}}, "system_disk.size", "greater than zero"),
    bad(
        "system-disk-fraction",
        {"system_disk": {"size": "1.5Gi"}},
        "system_disk.size",
        "not a whole number of GiB",
    ),
    bad(
        "system-disk-absurd",
        {"system_disk": {"size": "9999999Ti"}},
        "system_disk.size",
        "far larger than any disk",
    ),
    bad("system-disk-word", {"system_disk": {"size": "lots"}}, "system_disk.size", "is not a size"),
    bad("system-disk-exponent", {"system_disk": {"size": "1e3Gi"}}, "system_disk.size", "is not a size"),
    bad(
        "system-disk-huge-digits",
        {"system_disk": {"size": "9" * 40 + "Gi"}},
        "system_disk.size",
        "is not a size",
    ),
    bad(
        "system-disk-too-small",
        {"system_disk": {"size": "10Gi"}},
        "system_disk_size",
        "The system disk needs at least 20 GiB.",
    ),
    bad("system-disk-too-large", {"system_disk": {"size": "20Ti"}}, "system_disk_size", "at most 16384 GiB."),
    bad(
        "system-disk-class-unknown",
        {"system_disk": {"storage_class": "ceph"}},
        "system_disk_class",
        "Unknown storage class “ceph”; choose one of local, replicated.",
    ),
    bad(
        "system-disk-unknown-key",
        {"system_disk": {"image": "ubuntu"}},
        "system_disk.image",
        "Unknown key. Expected one of: size, storage_class.",
    ),
    bad("system-disk-not-mapping", {"system_disk": "200Gi"}, "system_disk", "Must be a mapping"),
    bad("disks-not-list", {"disks": {"name": "data"}}, "disks", "Must be a list."),
    bad("disk-not-mapping", {"disks": ["data"]}, "disks[0]", "Must be a mapping"),
    bad("disk-size-missing", {"disks": [{"name": "data"}]}, "disks[0].size", "This field is required."),
    bad("disk-name-missing", {"disks": [{"size": "1Gi"}]}, "disks[0].name", "This field is required."),
    bad(
        "disk-unknown-key",
        {"disks": [{"name": "data", "size": "1Gi", "bus": "sata"}]},
        "disks[0].bus",
        "Unknown key",
    ),
    bad(
        "disk-duplicate",
        {"disks": [{"name": "data", "size": "1Gi"}, {"name": "data", "size": "2Gi"}]},
        "disks",
        "Disk 2 (data): another disk already has this name.",
    ),
    bad(
        "disk-named-like-system-disk",
        {"disks": [{"name": "os", "size": "1Gi"}]},
        "disks",
        "Disk 1 (os): “os” is the system disk's name",
    ),
    bad(
        "disk-name-invalid",
        {"disks": [{"name": "Data_1", "size": "1Gi"}]},
        "disks",
        "Disk 1 (Data_1): use lowercase letters",
    ),
    bad("disk-name-empty", {"disks": [{"name": "", "size": "1Gi"}]}, "disks", "Disk 1: a name is required."),
    bad(
        "disk-object-name-too-long",
        {"name": "a" * 41, "disks": [{"name": "data", "size": "1Gi"}]},
        "disks",
        "Disk 1 (data): its disk object “" + "a" * 41 + "-data” would have 46 characters, over the 45",
    ),
    bad(
        "disk-too-large",
        {"disks": [{"name": "data", "size": "20000Gi"}]},
        "disks",
        "Disk 1 (data): the size must be at most 16384 GiB.",
    ),
    bad(
        "disk-class-unknown",
        {"disks": [{"name": "data", "size": "1Gi", "storage_class": "nfs"}]},
        "disks",
        "Disk 1 (data): unknown storage class “nfs”",
    ),
    bad(
        "too-many-disks",
        {"disks": [{"name": f"d{number}", "size": "1Gi"} for number in range(9)]},
        "disks",
        "At most 8 additional disks.",
    ),
    bad(
        "legacy-additional-disk",
        {"disks": [{"name": "data", "size": "1Gi"}]},
        "disks",
        "legacy 0.x VirtualMachine app, which has only a system",
        api_shape="legacy",
    ),
    bad("ports-not-list", {"public_ports": 22}, "public_ports", "Must be a list."),
    bad("port-string", {"public_ports": ["22"]}, "public_ports[0]", "Must be a port number."),
    bad("port-bool", {"public_ports": [True]}, "public_ports[0]", "Must be a port number."),
    bad("port-zero", {"public_ports": [0]}, "public_ports", "Port 0: use a number from 1 to 65535."),
    bad("port-too-high", {"public_ports": [70000]}, "public_ports", "Port 70000: use a number"),
    bad("port-twice", {"public_ports": [22, 8000, 22]}, "public_ports", "Port 22 is listed twice."),
    bad(
        "too-many-ports",
        {"public_ports": list(range(1000, 1017))},
        "public_ports",
        "At most 16 public ports.",
    ),
    bad("ssh-keys-string", {"ssh_keys": "ssh-ed25519 AAAA"}, "ssh_keys", "Must be a list."),
    bad("ssh-key-not-string", {"ssh_keys": [42]}, "ssh_keys[0]", "Must be a string."),
    bad(
        "ssh-key-garbage",
        {"ssh_keys": ["hello world"]},
        "ssh_keys",
        "Key 1: This is not an OpenSSH public key",
    ),
    bad("too-many-ssh-keys", {"ssh_keys": ["x"] * 17}, "ssh_keys", "At most 16 SSH keys."),
    bad("software-not-list", {"software": "nvidia-driver"}, "software", "Must be a list."),
    bad("software-unknown", {"software": ["cuda-12"]}, "software", "Unknown software block “cuda-12”."),
    bad(
        "software-twice",
        {"software": ["jupyterlab", "jupyterlab"]},
        "software",
        "“jupyterlab” is selected twice.",
    ),
    bad("software-on-fedora", {"image": "fedora"}, "software", "choose the Ubuntu image"),
    bad(
        "cloud-config-mapping",
        {"cloud_config": {"packages": ["htop"]}},
        "cloud_config",
        "Must be a string; write the cloud-config as a YAML block",
    ),
    bad(
        "cloud-config-list",
        {"cloud_config": "- htop\n"},
        "cloud_config",
        "must be a mapping of keys to values",
    ),
    bad(
        "cloud-config-runcmd-string",
        {"cloud_config": "runcmd: reboot\n"},
        "cloud_config",
        "“runcmd” must be a list here, because the software blocks add to it.",
    ),
    bad(
        "cloud-config-users-mapping",
        {"cloud_config": "users: {name: bob}\n"},
        "cloud_config",
        "“users” must be a list here",
    ),
    bad(
        "cloud-config-too-big",
        {"cloud_config": "a: '" + "x" * 17000 + "'\n"},
        "cloud_config",
        "at most 16384 are allowed.",
    ),
    bad("network-not-string", {"network": ["x"]}, "network", "Must be a string."),
    bad("network-unknown", {"network": "internet"}, "network", "Unknown network “internet”."),
    bad(
        "legacy-network",
        {"network": "gpu-interconnect", "disks": []},
        "network",
        "leave the network empty",
        api_shape="legacy",
    ),
    bad(
        "justification-missing-for-h100",
        H100_NEEDS | {"justification": ""},
        "justification",
        "H100 requests are approved by hand",
    ),
    bad("justification-too-long", {"justification": "x" * 2001}, "justification", "At most 2000 characters."),
    bad("justification-not-string", {"justification": 3}, "justification", "Must be a string."),
    bad(
        "instance-type-off-series",
        {"instance_type": "g2.odd"},
        "instance_type",
        "g2.odd is in the G2 series (2 GPUs) but the catalogue gives it 4",
        catalogue_change="odd-instance-type",
    ),
    bad(
        "instance-type-without-gpu",
        {"instance_type": "u1.medium"},
        "instance_type",
        "u1.medium has no GPU.",
        catalogue_change="gpu-less-type",
    ),
    bad(
        "more-gpus-than-the-cluster-has",
        H100_NEEDS | {"instance_type": "g8.2xlarge"},
        "gpu_model",
        "g8.2xlarge needs 8 GPUs but the cluster has only 4 H100.",
        catalogue_change="few-h100",
    ),
    bad(
        "legacy-image-not-in-enum",
        {"image": "debian", "disks": []},
        "image",
        "The legacy 0.x VirtualMachine app only boots ubuntu, cirros, alpine, fedora, talos.",
        api_shape="legacy",
        catalogue_change="debian-image",
    ),
]

CATALOGUE_CHANGES = {
    "odd-instance-type": lambda catalogue: dataclasses.replace(
        catalogue, instance_types={"g2.odd": InstanceTypeInfo(name="g2.odd", vcpu=64, ram_gib=256, gpus=4)}
    ),
    "gpu-less-type": lambda catalogue: dataclasses.replace(
        catalogue, instance_types={"u1.medium": InstanceTypeInfo(name="u1.medium", vcpu=1, ram_gib=4, gpus=0)}
    ),
    "few-h100": lambda catalogue: dataclasses.replace(
        catalogue,
        gpu_models=dict(catalogue.gpu_models) | {"H100": dataclasses.replace(catalogue.gpu_models["H100"], capacity=4)},
    ),
    "debian-image": lambda catalogue: dataclasses.replace(
        catalogue,
        images=dict(catalogue.images)
        | {"debian": ImageInfo(slug="debian", profile="", default_user="debian", runs_software_blocks=True)},
    ),
}


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


# --- SSH keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa-2048"])
def test_ed25519_ecdsa_and_rsa_2048_public_keys_are_accepted(kind):
    key = public_key(kind)

    assert check_ssh_public_key(key) is None
    assert check_ssh_public_key(f"  {key}\n") is None


def test_a_key_without_comment_is_accepted():
    assert check_ssh_public_key(" ".join(ED25519_KEY.split()[:2])) is None


def test_rsa_keys_under_2048_bits_are_refused():
    assert "This RSA key has 1024 bits; at least 2048 are required." in check_ssh_public_key(public_key("rsa-1024"))


@pytest.mark.parametrize(
    "garbage",
    [
        "ssh-ed25519",
        "ssh-ed25519 not-base64!!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMC2rlzOT2tMIz5pLIA9d8",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "hello",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAMC2rlzOT2tMIz5pLIA9d8+2nWeuUMhQlGoE/Lq8thr",
    ],
)
def test_garbage_is_not_a_key(garbage):
    assert check_ssh_public_key(garbage).startswith("This is not an OpenSSH public key")


@pytest.mark.parametrize("private_format", [serialization.PrivateFormat.OpenSSH, serialization.PrivateFormat.PKCS8])
def test_a_pasted_private_key_is_refused_with_advice(private_format):
    private_text = (
        private_key("ed25519")
        .private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())
        .decode()
    )

    message = check_ssh_public_key(private_text)

    assert message.startswith("This is a private key: never share it. Paste the public key instead")
    assert ".pub" in message


def test_two_keys_in_one_entry_are_refused():
    assert check_ssh_public_key(f"{ED25519_KEY}\n{public_key('ecdsa')}") == "Put one key per entry, on a single line."


def test_the_same_key_twice_is_refused_even_with_another_comment():
    other_comment = " ".join(ED25519_KEY.split()[:2]) + " work"
    document = base_document(ED25519_KEY) | {"ssh_keys": [ED25519_KEY, other_comment]}

    errors = errors_for(document)

    assert errors == {"ssh_keys": ["Key 2 is the same as key 1."]}


# --- Names, warnings, presets ---------------------------------------------------------------------


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
