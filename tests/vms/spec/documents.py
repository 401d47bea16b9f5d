"""Spec documents for tests: a complete one, and the table of bad inputs with where each error lands."""

import dataclasses

import pytest

from tests.vms.keys_and_catalogue import CATALOGUE, DEFAULTS
from vms.catalogue.offer import ImageInfo, InstanceTypeInfo
from vms.spec.document import parse_spec_document
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


def errors_for(document, *, catalogue=CATALOGUE, api_shape="current"):
    spec, errors = parse_spec_document(document, defaults=DEFAULTS)
    if errors:
        assert spec is None
        return errors
    return validate_spec(spec, catalogue=catalogue, api_shape=api_shape).errors
