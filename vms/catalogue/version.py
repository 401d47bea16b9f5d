"""The catalogue's version in the cache every process shares: saving or deleting a catalogue row
writes a new one (vms.apps connects the signals), and each process's copy of the rows
(vms.catalogue.loading) is read again when it sees the change. No model here: the app's
configuration connects the receiver before the models load."""

from uuid import uuid4

from django.core.cache import cache

VERSION_KEY = "vms.catalogue.version"
# The tables of the catalogue ("app_label.Model", as signals accept them before the models load).
CATALOGUE_MODELS = ("vms.GpuModel", "vms.InstanceType", "vms.Image", "vms.StorageClass", "vms.Preset")


def catalogue_version() -> str:
    return cache.get_or_set(VERSION_KEY, uuid4().hex, timeout=None)


def catalogue_changed(**_signal) -> None:
    """Every process reads the catalogue again on its next call (a signal receiver)."""
    cache.set(VERSION_KEY, uuid4().hex, timeout=None)
