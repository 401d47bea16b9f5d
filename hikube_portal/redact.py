"""Credentials out of text the portal shows: error messages quote URLs and headers verbatim, and
a URL may carry `user:password@`. Used wherever dependency errors reach a page or the health
endpoint."""

import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]*@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",;]+")
_SECRET_PARAMETER = re.compile(r"(?i)\b((?:access_)?token|password|passwd|secret|api_?key)=[^&\s'\",;]+")
# Shorter values would mask ordinary words.
_MIN_SECRET_LENGTH = 4


def url_without_credentials(url: str) -> str:
    """`url` with any `user:password@` removed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _configured_secrets() -> set[str]:
    urls = [getattr(settings, name, "") for name in ("PROMETHEUS_URL", "REDIS_URL", "CELERY_BROKER_URL")]
    passwords = {urlsplit(url).password for url in urls if url}
    values = {
        settings.SECRET_KEY,
        settings.DATABASES["default"].get("PASSWORD"),
        getattr(settings, "PROMETHEUS_PASSWORD", ""),
        getattr(settings, "PROMETHEUS_BEARER_TOKEN", ""),
        getattr(settings, "EMAIL_HOST_PASSWORD", ""),
        getattr(settings, "HEALTHZ_TOKEN", ""),
        *passwords,
    }
    return {value for value in values if value and len(value) >= _MIN_SECRET_LENGTH}


def redact(text: str) -> str:
    """`text` without URL credentials, authorization header values, `token=`/`password=`
    parameters, or any secret the settings hold."""
    text = _USERINFO.sub(r"\g<scheme>", text)
    text = _BEARER.sub(lambda match: f"{match.group(1)} {MASK}", text)
    text = _SECRET_PARAMETER.sub(lambda match: f"{match.group(1)}={MASK}", text)
    for secret in sorted(_configured_secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
