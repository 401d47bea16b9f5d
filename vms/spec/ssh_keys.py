"""OpenSSH public keys: which the portal accepts."""

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.utils.translation import gettext as _

from vms.spec.request import MIN_RSA_KEY_BITS


def check_ssh_public_key(text: str) -> str | None:
    """Why `text` is not an acceptable OpenSSH public key, or None when it is."""
    key_text = text.strip()
    if "PRIVATE KEY" in key_text:
        return _(
            "This is a private key: never share it. Paste the public key instead, the contents of the "
            ".pub file (for example ~/.ssh/id_ed25519.pub), which starts with ssh-ed25519, ecdsa-sha2-… "
            "or ssh-rsa."
        )
    if not key_text:
        return _("The key is empty.")
    if "\n" in key_text or "\r" in key_text:
        return _("Put one key per entry, on a single line.")
    try:
        key = load_ssh_public_key(key_text.encode())
    except (ValueError, UnsupportedAlgorithm):
        return _("This is not an OpenSSH public key; it should look like “ssh-ed25519 AAAAC3Nza… you@laptop”.")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            return _(
                "This RSA key has %(bits)s bits; at least %(minimum)s are required. Generate a new key, "
                "preferably with ssh-keygen -t ed25519."
            ) % {"bits": key.key_size, "minimum": MIN_RSA_KEY_BITS}
        return None
    if isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        return None
    return _("Use an ed25519, ECDSA or RSA key.")
