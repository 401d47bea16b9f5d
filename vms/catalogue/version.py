"""The catalogue's version in the cache every process shares: saving or deleting a catalogue row
writes a new one (vms.apps connects the signals), and each process's copy of the rows
(vms.catalogue.loading) is read again when it sees the change. No model here: the app's
configuration connects the receiver before the models load.

A request reads the version once: a page asks for the catalogue up to three times (the filter
form, the rows, the rules), and every ask was a round trip to the cache. One request also never
sees two catalogues. Outside a request (tasks, commands) every call reads it."""

from threading import local
from uuid import uuid4

from django.core.cache import cache

VERSION_KEY = "vms.catalogue.version"
# The tables of the catalogue ("app_label.Model", as signals accept them before the models load).
CATALOGUE_MODELS = ("vms.GpuModel", "vms.InstanceType", "vms.Image", "vms.StorageClass", "vms.Preset")


# The request this thread serves, if any: whether one is under way, and the version it read.
_request = local()


def catalogue_version() -> str:
    version = getattr(_request, "version", None)
    if version is None:
        version = cache.get_or_set(VERSION_KEY, uuid4().hex, timeout=None)
        if getattr(_request, "under_way", False):
            _request.version = version
    return version


def request_started(**_signal) -> None:
    """A receiver: the request about to be served reads the version at its first ask."""
    _request.under_way, _request.version = True, None


def request_finished(**_signal) -> None:
    _request.under_way, _request.version = False, None


def catalogue_changed(**_signal) -> None:
    """Every process reads the catalogue again on its next call, the request that changed it too
    (a signal receiver)."""
    _request.version = None
    cache.set(VERSION_KEY, uuid4().hex, timeout=None)
