"""The identity provider's metadata, read from its discovery document
(`<issuer>/.well-known/openid-configuration`) once per process and hour: the endpoints the
sign-in uses, and the issuer its ID tokens must name."""

import threading
import time

import requests

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_SECONDS = 3600
REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderError(Exception):
    """The provider could not be read; `retryable` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def discovery_url(issuer_or_url: str) -> str:
    url = issuer_or_url.rstrip("/")
    return url if url.endswith(DISCOVERY_PATH) else url + DISCOVERY_PATH


_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def provider_metadata(issuer_or_url: str, *, timeout: float) -> dict:
    url = discovery_url(issuer_or_url)
    with _lock:
        cached = _cache.get(url)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise ProviderError(f"cannot reach the identity provider at {url}: {error}", retryable=True) from None
    if response.status_code >= 500:
        raise ProviderError(f"the identity provider answered {response.status_code} at {url}", retryable=True)
    try:
        metadata = response.json() if response.ok else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or any(not metadata.get(key) for key in REQUIRED):
        raise ProviderError(f"{url} is not an OpenID Connect discovery document", retryable=False)
    with _lock:
        _cache[url] = (time.monotonic(), metadata)
    return metadata
