"""The controller's port onto any API server, through the official `kubernetes` client
(`python -m devcluster --controller-only`). Only this module of devcluster needs the client.

A real API server plays its own part: it drops status sent on create and main-resource
updates, allocates Service addresses and node ports, and kube-controller-manager collects
garbage, empties deleted namespaces and counts each ResourceQuota's status.used."""

import contextlib
import json
from pathlib import Path

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from devcluster.errors import ApiError
from devcluster.kinds import POD, Kind

REQUEST_TIMEOUT = 10


class KubePort:
    # Every pass LISTs each kind once: a tenth of a second keeps a test API server unhurried.
    min_tick_seconds = 0.1
    infrastructure_seconds = 1.0

    def __init__(self, kubeconfig: Path):
        configuration = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=configuration)
        # No retries inside urllib3 (each logged): the next pass is the retry, and an outage is said once.
        configuration.retries = False
        self.api_client = client.ApiClient(configuration)

    def close(self) -> None:
        self.api_client.close()

    def exclusive(self):
        # Nothing to lock out: the API server orders writes itself (resourceVersion conflicts).
        return contextlib.nullcontext()

    @staticmethod
    def _path(kind: Kind, namespace: str | None = None, name: str | None = None, subresource: str = "") -> str:
        path = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{kind.plural}"
        return "/".join(part for part in (path, name, subresource) if part)

    def _call(self, method: str, path: str, body=None, query=()):
        try:
            response = self.api_client.call_api(
                path,
                method,
                query_params=list(query),
                body=body,
                auth_settings=["BearerToken"],
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            try:
                status = json.loads(exc.body or "{}")
            except ValueError:
                status = {}
            raise ApiError(
                exc.status or 503,
                status.get("reason") or str(exc.reason),
                status.get("message") or str(exc.reason),
                status.get("details"),
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            # No answer at all (the API server is down or restarting): the next pass tries again.
            raise ApiError(503, "ServiceUnavailable", f"no answer from the API server: {exc}") from exc
        data = response.data
        return json.loads(data) if data else None

    def list(self, kind: Kind) -> list[dict]:
        listing = self._call("GET", self._path(kind))
        items = listing.get("items") or []
        for item in items:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        try:
            return self._call("GET", self._path(kind, namespace, name))
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def create(self, kind: Kind, obj: dict) -> dict:
        return self._call("POST", self._path(kind, obj["metadata"].get("namespace")), obj)

    def replace(self, kind: Kind, obj: dict) -> dict:
        metadata = obj["metadata"]
        return self._call("PUT", self._path(kind, metadata.get("namespace"), metadata["name"]), obj)

    def replace_status(self, kind: Kind, obj: dict) -> dict:
        metadata = obj["metadata"]
        return self._call("PUT", self._path(kind, metadata.get("namespace"), metadata["name"], "status"), obj)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if kind is POD:
            # No kubelet runs to end the pod gracefully: it would stay Terminating forever.
            options["gracePeriodSeconds"] = 0
        try:
            result = self._call("DELETE", self._path(kind, namespace, name), options)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise
        return result if isinstance(result, dict) and result.get("kind") == kind.kind else None

    def bind(self, namespace: str, pod: str, node: str) -> dict:
        self._call(
            "POST",
            self._path(POD, namespace, pod, "binding"),
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": pod, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            },
        )
        return self._call("GET", self._path(POD, namespace, pod))

    def housekeeping(self) -> None:
        """kube-controller-manager's work, done by the real one."""
