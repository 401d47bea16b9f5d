"""Faults tests can switch on at run time through `POST /_devcluster/faults`."""

import random
import threading
from dataclasses import asdict, dataclass, fields

from devcluster.errors import bad_request

# What only the development cluster's own API server can do: a real one answers for itself.
API_SERVER_FAULTS = ("latency_ms", "error_rate", "conflict_rate", "drop_watch_after_events", "drop_watch_after_seconds")
SWITCHES = ("paused", "legacy_running_ignored", "pod_application_labels")


@dataclass
class Faults:
    latency_ms: float = 0.0
    # Shares (0 to 1) of Kubernetes API requests answered 500, and of updates answered 409 Conflict.
    error_rate: float = 0.0
    conflict_rate: float = 0.0
    # Watch streams end after this many events or seconds (None: they last their timeoutSeconds).
    drop_watch_after_events: int | None = None
    drop_watch_after_seconds: float | None = None
    # Switches of the simulated controller, which work against any API server:
    paused: bool = False
    # Cozystack 0.x: a `running` change on a VirtualMachine app is not carried to the KubeVirt VM
    # (the release upgrades, the VM keeps its run strategy).
    legacy_running_ignored: bool = False
    # Pods get the `apps.cozystack.io/application.*` labels a recent platform webhook adds.
    pod_application_labels: bool = False

    def __post_init__(self):
        self._random = random.Random()
        self._lock = threading.Lock()

    def update(self, changes: dict) -> None:
        known = {field.name: field for field in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise bad_request(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        # Every value is checked before any is set: a refused update changes nothing.
        for name, value in changes.items():
            if name in SWITCHES:
                if not isinstance(value, bool):
                    raise bad_request(f"{name} must be true or false")
            elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise bad_request(f"{name} must be a non-negative number or null")
            elif name.endswith("_rate") and value is not None and value > 1:
                raise bad_request(f"{name} is a share between 0 and 1")
        for name, value in changes.items():
            if name in ("latency_ms", "error_rate", "conflict_rate") and value is None:
                value = 0.0
            setattr(self, name, value)

    def reset(self) -> None:
        self.update({field.name: field.default for field in fields(self)})

    def roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._random.random() < rate

    def as_dict(self) -> dict:
        return asdict(self)
