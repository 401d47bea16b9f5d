"""Which SSH public keys a request accepts, and the advice when one is refused."""

import pytest
from cryptography.hazmat.primitives import serialization

from tests.vms.keys_and_catalogue import ED25519_KEY, private_key, public_key
from tests.vms.spec.documents import base_document, errors_for
from vms.spec.ssh_keys import check_ssh_public_key


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
