"""The cluster gateway: the only module that talks to the Kubernetes API (through the official
`kubernetes` client), for both Cozystack API shapes.

Every call goes through `ClusterGateway._call`, which sends raw JSON and returns plain dicts:
the generated model classes cost more than the sync can afford on thousands of objects, and
the apps kinds have no models anyway. Every failure becomes a `ClusterError` that says whether
trying again can help, with the cluster's own message.

`ClusterGateway.calls` counts requests by (verb, plural), so tests and the benchmark can check
that the status sync lists per namespace and never fetches VMs one by one.
"""

import json
import threading
from collections import Counter
from dataclasses import dataclass

import urllib3
from django.conf import settings
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.utils import parse_quantity

from hikube_portal import metrics

MERGE_PATCH = "application/merge-patch+json"
# A field the CRD's schema does not declare is refused, not silently dropped (the API server's
# default only warns): a key Cozystack would ignore must fail loudly, in the cluster's words.
STRICT_FIELDS = [("fieldValidation", "Strict")]
# Status codes after which the same request may well succeed: the server was busy, restarting
# or raced with another writer (409 Conflict on an update; AlreadyExists is told apart below).
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name is not None else base


VM_INSTANCE = Kind("apps.cozystack.io", "v1alpha1", "vminstances", "VMInstance")
VM_DISK = Kind("apps.cozystack.io", "v1alpha1", "vmdisks", "VMDisk")
LEGACY_VIRTUAL_MACHINE = Kind("apps.cozystack.io", "v1alpha1", "virtualmachines", "VirtualMachine")
KUBEVIRT_VM = Kind("kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
DATA_VOLUME = Kind("cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume")
SERVICE = Kind("", "v1", "services", "Service")
EVENT = Kind("", "v1", "events", "Event")
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
NODE = Kind("", "v1", "nodes", "Node", namespaced=False)
RESOURCE_QUOTA = Kind("", "v1", "resourcequotas", "ResourceQuota")
APPS_KINDS = (VM_INSTANCE, VM_DISK, LEGACY_VIRTUAL_MACHINE)
_KINDS_BY_TYPE = {(kind.api_version, kind.kind): kind for kind in (*APPS_KINDS, KUBEVIRT_VM, DATA_VOLUME, SERVICE)}


def kind_of(obj: dict) -> Kind:
    return _KINDS_BY_TYPE[(obj["apiVersion"], obj["kind"])]


def whole_quantity(quantity: str) -> int:
    """A Kubernetes quantity ("8", "1k") as a whole number, as devices are counted."""
    return int(parse_quantity(quantity))


class ClusterError(Exception):
    """A failed cluster call. `retryable` says whether the same call may succeed later;
    `message` is the cluster's own explanation, fit to show to the VM's owner."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.reason = reason

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def not_found(self) -> bool:
        return self.status == 404


def _error_from_api_exception(exc: ApiException) -> ClusterError:
    message, reason = exc.reason or "", ""
    try:
        body = json.loads(exc.body or "{}")
        message, reason = body.get("message") or message, body.get("reason") or ""
    except (TypeError, ValueError):
        pass
    status = exc.status or None
    # A status of 0 means no HTTP answer at all (the connection broke): worth another try.
    retryable = status is None or (status in RETRYABLE_STATUSES and reason != "AlreadyExists")
    return ClusterError(message or f"HTTP {status}", retryable=retryable, status=status, reason=reason)


class ClusterGateway:
    def __init__(self, api_client, *, timeout: float):
        self.api_client = api_client
        self.timeout = timeout
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, path: str = "", *, context: str = "", timeout: float = 10.0) -> "ClusterGateway":
        """A gateway from a kubeconfig file, or from the pod's service account when `path` is empty."""
        try:
            if path:
                api_client = k8s_config.new_client_from_config(config_file=path, context=context or None)
            else:
                configuration = k8s_client.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                api_client = k8s_client.ApiClient(configuration)
        except (ConfigException, OSError) as exc:
            raise ClusterError(f"Cannot load the cluster configuration: {exc}", retryable=False) from exc
        # Retries are ours (with backoff, in the tasks); urllib3's own would multiply the wait.
        api_client.configuration.retries = 0
        api_client.rest_client.pool_manager.connection_pool_kw["retries"] = 0
        return cls(api_client, timeout=timeout)

    # -- the calls ----------------------------------------------------------------------------

    def reachable(self, *, timeout: float) -> tuple[bool, str]:
        """For the health endpoint: the API server's version, or why it could not be read."""
        try:
            response = self._get_server_path("/version", timeout=timeout)
            version = json.loads(response.data or b"{}").get("gitVersion", "unknown version")
        except ApiException as exc:
            return False, _error_from_api_exception(exc).message
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            return False, f"The cluster API did not answer: {exc}"
        return True, version

    def create(self, obj: dict) -> dict:
        kind = kind_of(obj)
        return self._call(
            "create", kind, "POST", kind.path(obj["metadata"]["namespace"]), body=obj, query=STRICT_FIELDS
        )

    def get(self, kind: Kind, namespace: str, name: str) -> dict | None:
        try:
            return self._call("get", kind, "GET", kind.path(namespace, name))
        except ClusterError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self, kind: Kind, namespace: str | None, *, label_selector: str = "", field_selector: str = ""
    ) -> list[dict]:
        """Every object of `kind` in `namespace` (None for cluster-scoped kinds) matching the
        selectors; a missing namespace, or a kind the API does not serve, has none."""
        query = [
            (key, value)
            for key, value in (("labelSelector", label_selector), ("fieldSelector", field_selector))
            if value
        ]
        try:
            return self._call("list", kind, "GET", kind.path(namespace), query=query)["items"] or []
        except ClusterError as exc:
            if exc.not_found:
                return []
            raise

    def patch(self, kind: Kind, namespace: str, name: str, patch: dict) -> dict:
        """A JSON merge patch: what it names is replaced, what it leaves out is kept."""
        return self._call(
            "patch",
            kind,
            "PATCH",
            kind.path(namespace, name),
            body=patch,
            content_type=MERGE_PATCH,
            query=STRICT_FIELDS,
        )

    def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        """Asks for the deletion; False when the object was already gone (which counts as done)."""
        try:
            self._call("delete", kind, "DELETE", kind.path(namespace, name), body={"propagationPolicy": "Background"})
        except ClusterError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def restart(self, namespace: str, kubevirt_vm: str) -> None:
        path = f"/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{kubevirt_vm}/restart"
        self._call("restart", KUBEVIRT_VM, "PUT", path, body={})

    def namespace_ensure(self, name: str) -> None:
        """Creates a namespace unless it exists. For development tooling: on a real cluster the
        tenant namespaces are Cozystack's to create."""
        try:
            self._call(
                "create",
                NAMESPACE,
                "POST",
                NAMESPACE.path(),
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
        except ClusterError as exc:
            if not exc.already_exists:
                raise

    # -- plumbing -----------------------------------------------------------------------------

    def _call(
        self,
        verb: str,
        kind: Kind,
        method: str,
        path: str,
        *,
        query=None,
        body=None,
        content_type: str = "application/json",
    ):
        with self._lock:
            self.calls[(verb, kind.plural)] += 1
        try:
            response = self.api_client.call_api(
                path,
                method,
                query_params=query or [],
                body=body,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        except ApiException as exc:
            error = _error_from_api_exception(exc)
            if error.status == 403 and not self._ready():
                error = ClusterError(
                    f"The cluster API is still starting (it refused the request until its "
                    f"authorisation caches are loaded): {error.message}",
                    retryable=True,
                    status=503,
                    reason="NotReady",
                )
            metrics.count_cluster_error(error.reason or f"HTTP {error.status}")
            raise error from exc
        except urllib3.exceptions.HTTPError as exc:
            metrics.count_cluster_error("Unreachable")
            raise ClusterError(f"The cluster API did not answer: {exc}", retryable=True) from exc
        data = response.data
        return json.loads(data) if data else None

    def _ready(self) -> bool:
        """Whether the API server says it is ready. A kube-apiserver that has just started answers
        403 to every request for a moment, before its RBAC caches are synced: such a 403 says
        nothing about the portal's rights. /readyz is readable by every authenticated user."""
        with self._lock:
            self.calls[("get", "readyz")] += 1
        try:
            response = self._get_server_path("/readyz", timeout=self.timeout)
        except (ApiException, urllib3.exceptions.HTTPError):
            return False
        return response.status == 200

    def _get_server_path(self, path: str, *, timeout: float):
        """A GET of one of the server's own paths (/version, /readyz), outside the kinds' API."""
        return self.api_client.call_api(
            path, "GET", auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout
        )


_gateways: dict[tuple, ClusterGateway] = {}
_gateways_lock = threading.Lock()


def gateway() -> ClusterGateway:
    """The process's gateway for the CLUSTER_* settings (one connection pool per process)."""
    key = (settings.CLUSTER_KUBECONFIG, settings.CLUSTER_CONTEXT, settings.CLUSTER_TIMEOUT_SECONDS)
    with _gateways_lock:
        if key not in _gateways:
            _gateways[key] = ClusterGateway.from_kubeconfig(
                settings.CLUSTER_KUBECONFIG, context=settings.CLUSTER_CONTEXT, timeout=settings.CLUSTER_TIMEOUT_SECONDS
            )
        return _gateways[key]
