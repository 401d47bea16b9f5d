"""Cloud-init composition: structure comes from data, never from what the user types."""

import pytest
import yaml

from tests.vms.keys_and_catalogue import ED25519_KEY
from vms.spec.cloud_config import (
    CLOUD_CONFIG_HEADER,
    MAX_NESTING_DEPTH,
    compose_cloud_config,
    merge_cloud_config,
    parse_user_cloud_config,
    resolve_software,
)

DCGM_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:"


def compose(user_text="", *, software=(), ssh_keys=(), default_user="ubuntu") -> dict:
    text = compose_cloud_config(
        software=software, user_cloud_config=user_text, ssh_keys=ssh_keys, default_user=default_user
    )
    assert text.startswith(CLOUD_CONFIG_HEADER)
    return yaml.safe_load(text)


def test_without_blocks_the_document_only_creates_the_login_user():
    assert compose(ssh_keys=[f"  {ED25519_KEY}\n"]) == {
        "users": [
            {
                "name": "ubuntu",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "shell": "/bin/bash",
                "lock_passwd": True,
                "ssh_authorized_keys": [ED25519_KEY],
            }
        ]
    }


def test_selecting_dcgm_pulls_in_docker_and_the_driver_in_catalogue_order():
    assert [block["slug"] for block in resolve_software(["dcgm-exporter"])] == [
        "nvidia-driver",
        "docker-nvidia",
        "dcgm-exporter",
    ]
    assert [block["slug"] for block in resolve_software(["jupyterlab", "deep-learning"])] == [
        "nvidia-driver",
        "python",
        "deep-learning",
        "jupyterlab",
    ]


def test_unknown_blocks_raise():
    with pytest.raises(ValueError, match="unknown software block"):
        resolve_software(["cuda-12"])


def test_the_dcgm_exporter_runs_on_port_9400_after_docker_is_set_up():
    config = compose(software=["dcgm-exporter"])

    runcmd = config["runcmd"]
    dcgm = next(command for command in runcmd if DCGM_IMAGE in command)
    assert "--gpus all" in dcgm and "-p 9400:9400" in dcgm
    assert runcmd.index("curl -fsSL https://get.docker.com | sh") < runcmd.index(dcgm)
    assert runcmd.index("apt-get install -y cuda-toolkit cuda-drivers") < runcmd.index(dcgm)
    assert config["users"][0]["groups"] == ["docker"]


def test_user_lists_come_after_the_blocks_and_packages_are_not_repeated():
    config = compose("packages: [htop, curl]\nruncmd: [nvidia-smi]\n", software=["nvidia-driver"])

    assert config["packages"] == ["curl", "wget", "build-essential", "dkms", "htop"]
    assert config["runcmd"][-1] == "nvidia-smi"
    assert config["runcmd"][0].startswith("distro=")


def test_user_scalars_win_and_user_users_come_after_the_login_user():
    config = compose("package_update: false\nusers: [{name: alice}]\n", software=["nvidia-driver"])

    assert config["package_update"] is False
    assert [user["name"] for user in config["users"]] == ["ubuntu", "alice"]


def test_the_login_user_follows_the_image():
    assert compose(default_user="fedora")["users"][0]["name"] == "fedora"


def test_mappings_merge_deeply_and_lists_append():
    base = {"apt": {"sources": {"a": {"source": "x"}}, "conf": "keep"}, "runcmd": ["one"]}
    addition = {"apt": {"sources": {"b": {"source": "y"}}, "conf": "new"}, "runcmd": ["two"]}

    merged = merge_cloud_config(base, addition)

    assert merged == {
        "apt": {"sources": {"a": {"source": "x"}, "b": {"source": "y"}}, "conf": "new"},
        "runcmd": ["one", "two"],
    }
    assert base["runcmd"] == ["one"], "merging must not change its inputs"


# --- What users type cannot change the document's structure ----------------------------------------

INJECTIONS = [
    'runcmd:\n  - "echo hi\\nruncmd: [rm -rf /]"\n',
    "runcmd:\n  - |\n    echo hi\n    runcmd: [rm -rf /]\n",
    "hostname: \"gpu\\n#cloud-config\\nruncmd: ['rm -rf /']\"\n",
    'write_files:\n  - path: /tmp/x\n    content: "---\\nusers: []\\n...\\n"\n',
    "final_message: '\"}]\n  runcmd: [rm -rf /]'\n",
]


@pytest.mark.parametrize("user_text", INJECTIONS)
def test_newlines_and_quotes_in_values_stay_inside_the_values(user_text):
    user_config = yaml.safe_load(user_text)

    config = compose(user_text, software=["nvidia-driver"], ssh_keys=[ED25519_KEY])

    block_only = compose(software=["nvidia-driver"], ssh_keys=[ED25519_KEY])
    assert set(config) == set(block_only) | set(user_config)
    assert config["users"] == block_only["users"]
    for key, value in user_config.items():
        assert config[key] == (block_only.get(key, []) + value if isinstance(value, list) else value)
    assert "rm -rf /" not in block_only["runcmd"]
    assert ["rm -rf /"] not in config.get("runcmd", [])


def test_ssh_key_comments_cannot_add_keys():
    body = " ".join(ED25519_KEY.split()[:2])
    sneaky = f"{body} me\nruncmd: [rm -rf /]: # x"

    config = compose(ssh_keys=[sneaky])

    assert set(config) == {"users"}
    assert config["users"][0]["ssh_authorized_keys"] == [sneaky]


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "YAML aliases (*name) are not allowed; write the values out."),
        ("runcmd: &cmds [ls]\nbootcmd: *cmds\n", "YAML aliases (*name) are not allowed"),
        (
            "runcmd: !!python/object/apply:os.system ['rm -rf /']\n",
            "Tags such as !!python/object are not allowed",
        ),
        ("a: !!python/name:os.system\n", "Tags such as !!python/object are not allowed"),
        ("a: !custom 1\n", "Tags such as !!python/object are not allowed"),
        ("- apt-get install htop\n", "must be a mapping of keys to values"),
        ("just a sentence\n", "must be a mapping of keys to values"),
        ("#!/bin/bash\necho pwned\n", "Shell scripts are not supported: put commands under runcmd."),
        ("packages: [htop]\n---\nruncmd: [ls]\n", "Write a single YAML document"),
        ("packages: [htop\n", "This is not valid YAML (line 2)"),
        ("runcmd:\n  - ls\n bad-indent: 1\n", "This is not valid YAML (line 3)"),
        ("1: one\n", "Every top-level key must be a name"),
        ("? [a, b]\n: c\n", "This is not valid YAML (line 1): found unhashable key"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "nested too deeply"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ],
    ids=lambda value: value[:30] if isinstance(value, str) else value,
)
def test_dangerous_or_malformed_cloud_config_is_refused_with_a_reason(text, message):
    config, error = parse_user_cloud_config(text)

    assert config is None
    assert message in error


def test_huge_cloud_config_is_refused_before_parsing():
    config, error = parse_user_cloud_config("a: " + "[1," * 100_000 + "]", max_bytes=16384)

    assert config is None
    assert error == "The cloud-config has 300004 bytes; at most 16384 are allowed."


@pytest.mark.parametrize("text", ["", "   \n", "#cloud-config\n", "# only a comment\n"])
def test_empty_cloud_config_is_an_empty_mapping(text):
    assert parse_user_cloud_config(text) == ({}, None)


def test_the_cloud_config_header_in_user_text_is_just_a_comment():
    assert parse_user_cloud_config("#cloud-config\npackages: [htop]\n") == ({"packages": ["htop"]}, None)


def test_composing_with_refused_user_text_raises():
    with pytest.raises(ValueError, match="aliases"):
        compose_cloud_config(software=[], user_cloud_config=BOMB, ssh_keys=[])


def test_the_output_has_no_aliases_even_when_values_are_shared():
    text = compose_cloud_config(software=["deep-learning", "jupyterlab"], user_cloud_config="", ssh_keys=[])

    events = list(yaml.parse(text))
    assert not any(isinstance(event, yaml.AliasEvent) for event in events)


@pytest.mark.parametrize("opening", ["[", "{", "- "])
def test_deep_nesting_is_refused_without_reading_the_rest(opening, monkeypatch):
    text = "a:\n  " + (opening * 8000 if opening != "- " else "".join("  " * level + "-\n" for level in range(2000)))
    events = []
    parse = yaml.parse

    def counting_parse(*args, **kwargs):
        for event in parse(*args, **kwargs):
            events.append(event)
            yield event

    monkeypatch.setattr(yaml, "parse", counting_parse)
    config, error = parse_user_cloud_config(text)

    assert (config, error) == (None, "The cloud-config is nested too deeply.")
    # Unchecked, PyYAML takes tens of seconds on a few kilobytes of brackets: the check stops at
    # the first collection past the limit instead of composing the whole document.
    assert len(events) <= 2 * MAX_NESTING_DEPTH
