"""What the controller reads and writes through: a small port onto an API server.

The controller plays Cozystack's charts, CDI, KubeVirt, the scheduler, the load balancer and
the kubelets; it does not care which API server it plays them against. `StorePort` is the
development cluster's own store, in process (`python -m devcluster`, `make run`);
`devcluster.kubeport.KubePort` is any API server through the official client
(`python -m devcluster --controller-only`). Both raise `devcluster.errors.ApiError`.

Every port offers the same calls:

    exclusive()                 a context the controller holds for one reconcile pass
    list(kind)                  every object of a kind, all namespaces
    get(kind, namespace, name)  the object, or None
    create(kind, obj)           the object as stored (a status sent along is dropped)
    replace(kind, obj)          PUT of the main resource (status kept as stored)
    replace_status(kind, obj)   PUT of the status subresource (nothing else changes)
    delete(kind, namespace, name)  deletes now, or marks for deletion when finalizers remain;
                                pods go with no grace period (no kubelet runs to end them)
    bind(namespace, pod, node)  the scheduler's binding of a pending pod to a node
    housekeeping()              what kube-controller-manager does on a real cluster
    infrastructure_seconds      how often Nodes and tenant quotas are checked
    min_tick_seconds            the shortest pause between two passes
"""

import copy

from devcluster import errors
from devcluster.kinds import Kind
from devcluster.store import Store


class StorePort:
    min_tick_seconds = 0.01
    # Listing is a copy in memory: the nodes and quotas are checked on every pass.
    infrastructure_seconds = 0.0

    def __init__(self, store: Store):
        self.store = store

    def exclusive(self):
        # A pass runs under the store's lock: a client's request (or a reset) never lands in the middle.
        return self.store.condition

    def list(self, kind: Kind) -> list[dict]:
        return self.store.list(kind)[0]

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        return self.store.find(kind, namespace, name)

    def create(self, kind: Kind, obj: dict) -> dict:
        return self.store.create(kind, obj["metadata"].get("namespace"), copy.deepcopy(obj))

    def replace(self, kind: Kind, obj: dict) -> dict:
        return self.store.update(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"], obj)

    def replace_status(self, kind: Kind, obj: dict) -> dict:
        return self.store.update(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"], obj, status=True)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        try:
            return self.store.delete(kind, namespace, name)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            return None

    def bind(self, namespace: str, pod: str, node: str) -> dict:
        return self.store.bind(namespace, pod, node)

    def housekeeping(self) -> None:
        self.store.finalize_namespaces()
