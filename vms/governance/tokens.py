"""Personal access tokens for the REST API: created and revoked by their owner, checked on every
API call. A token reads `hkp_<prefix>_<secret>`; the row keeps the prefix and a SHA-256 digest of
the whole token. The secret carries 256 random bits, so a fast digest is enough: nothing can be
guessed from it, and checking a token costs one indexed read."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from vms.errors import InvalidTransition
from vms.models import ApiToken, Event
from vms.transitions import event_record

PREFIX = re.compile(r"[0-9a-f]{8}")
TOKEN_TAG = "hkp"  # noqa: S105 - the tag every token starts with, not a secret
# Recording every call would write a row per request: the last use is kept to the minute, and
# a use from a new address is audited at once.
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    plaintext: str


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _audit_target(token: ApiToken) -> str:
    return f"API token {token.prefix}"


@transaction.atomic
def api_token_create(*, user, name: str, scope: str, expires_at: datetime) -> NewToken:
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_TAG}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name.strip(), prefix=prefix, digest=_digest(plaintext), scope=scope, expires_at=expires_at
    )
    event_record(
        kind=Event.Kind.ACCESS,
        actor=user,
        target=_audit_target(token),
        message=N_("Created the API token “%(name)s” (%(scope)s, until %(expires)s)"),
        data={"name": token.name, "scope": scope, "expires": f"{expires_at:%Y-%m-%d}", "token": prefix},
    )
    return NewToken(token=token, plaintext=plaintext)


@transaction.atomic
def api_token_revoke(*, token_id: int, user) -> ApiToken:
    """Revokes one of `user`'s tokens; InvalidTransition if it is not theirs or already revoked."""
    if ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now()) != 1:
        raise InvalidTransition(token_id, "revoked", "revoked or not yours")
    token = ApiToken.objects.get(pk=token_id)
    event_record(
        kind=Event.Kind.ACCESS,
        actor=user,
        target=_audit_target(token),
        message=N_("Revoked the API token “%(name)s”"),
        data={"name": token.name, "token": token.prefix},
    )
    return token


def api_token_find(plaintext: str) -> ApiToken | None:
    """The usable token `plaintext` is, with its user, or None (malformed, unknown, revoked,
    expired, or its user deactivated)."""
    tag, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition("_")
    if tag != TOKEN_TAG or not PREFIX.fullmatch(prefix) or not secret or len(plaintext) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(plaintext)):
        return None
    if not token.is_usable or not token.user.is_active:
        return None
    return token


def api_token_use(*, token: ApiToken, ip: str | None) -> None:
    """Records the call: the time to the minute, and the address, audited when it is new."""
    now = timezone.now()
    new_address = ip != token.last_used_ip
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USE_PRECISION)
    if not new_address and token.last_used_at and now - token.last_used_at < LAST_USE_PRECISION:
        return
    with transaction.atomic():
        # Of concurrent first calls from an address, one changes the row and audits it.
        changed = (
            ApiToken.objects.filter(pk=token.pk)
            .filter(stale | ~Q(last_used_ip=ip) if ip else stale)
            .update(last_used_at=now, last_used_ip=ip)
        )
        if changed == 1 and new_address:
            event_record(
                kind=Event.Kind.ACCESS,
                actor=token.user,
                target=_audit_target(token),
                message=N_("Used the API token “%(name)s” from %(ip)s"),
                data={"name": token.name, "ip": ip or "?", "token": token.prefix},
            )
    token.last_used_at, token.last_used_ip = now, ip
