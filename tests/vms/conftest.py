import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from vms.spec import Catalogue, SpecDefaults


def openssh_public_key(private_key, comment: str = "me@laptop") -> str:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode()} {comment}"


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.from_seed(networks=("gpu-interconnect",))


@pytest.fixture(scope="session")
def defaults() -> SpecDefaults:
    return SpecDefaults.from_seed()


@pytest.fixture(scope="session")
def ed25519_private_key():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def ed25519_key(ed25519_private_key) -> str:
    return openssh_public_key(ed25519_private_key)


@pytest.fixture(scope="session")
def ecdsa_key() -> str:
    return openssh_public_key(ec.generate_private_key(ec.SECP384R1()))


@pytest.fixture(scope="session")
def rsa_2048_key() -> str:
    return openssh_public_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def rsa_1024_key() -> str:
    # Deliberately weak: the portal must refuse it.
    return openssh_public_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
