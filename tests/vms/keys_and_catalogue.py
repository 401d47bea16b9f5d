"""Shared test data for the pure VM modules: the seed catalogue and real SSH keys.

Plain values rather than fixtures: these tests need no database and no per-test state.
"""

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from vms.catalogue.offer import Catalogue, SpecDefaults

CATALOGUE = Catalogue.from_seed(networks=("gpu-interconnect",))
DEFAULTS = SpecDefaults.from_seed()


@functools.cache
def private_key(kind: str):
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa-1024":
        # Deliberately weak: the portal must refuse it.
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    raise ValueError(kind)


def public_key(kind: str, comment: str = "me@laptop") -> str:
    public = (
        private_key(kind).public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return f"{public.decode()} {comment}"


ED25519_KEY = public_key("ed25519")
