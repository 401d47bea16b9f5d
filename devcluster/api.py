"""The HTTP side: Kubernetes REST paths, bearer-token authorization, watches, and the control API."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from devcluster import errors
from devcluster.control import Control
from devcluster.kinds import ALL_KINDS, KUBEVIRT_VM, NAMESPACE, Kind, find_kind
from devcluster.selectors import parse_field_selector, parse_label_selector

log = logging.getLogger(__name__)

SUBRESOURCE_GROUP = "subresources.kubevirt.io"
POWER_ACTIONS = ("start", "stop", "restart")
# The API server ends a watch after a while; clients are expected to resume.
DEFAULT_WATCH_SECONDS = 1800
JSON_PATCH = "application/json-patch+json"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json", "application/json")


class Identity:
    def __init__(self, user: str, namespaces: frozenset[str] | None):
        self.user = user
        # None: the admin, who may do anything anywhere.
        self.namespaces = namespaces

    def check(
        self, verb: str, kind: Kind, namespace: str | None, name: str | None = None, *, status: bool = False
    ) -> None:
        if self.namespaces is None:
            return
        # A tenant's role names the resources, not their status: only the controllers write status.
        allowed = (
            namespace is not None
            and namespace in self.namespaces
            and kind is not NAMESPACE
            and not (status and verb != "get")
        )
        if kind is NAMESPACE and verb == "get" and name in self.namespaces:
            allowed = True
        if allowed:
            return
        resource = f"{kind.plural}/status" if status else kind.plural
        target = f'{kind.qualified} "{name}"' if name else kind.qualified
        scope = f'in the namespace "{namespace}"' if namespace and kind is not NAMESPACE else "at the cluster scope"
        raise errors.ApiError(
            403,
            "Forbidden",
            f'{target} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" in API group '
            f'"{kind.group}" {scope}',
            {"name": name, "group": kind.group, "kind": kind.plural}
            if name
            else {"group": kind.group, "kind": kind.plural},
        )


class ClusterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address,
        *,
        store,
        controller,
        faults,
        exporters,
        admin_token: str,
        tenant_tokens: dict[str, frozenset[str]],
        seed_namespaces: list[str],
    ):
        super().__init__(address, KubernetesHandler)
        self.store = store
        self.controller = controller
        self.faults = faults
        self.exporters = exporters
        self.admin_token = admin_token
        self.tenant_tokens = tenant_tokens
        self.seed_namespaces = seed_namespaces
        self.control = Control(faults=faults, controller=controller, exporters=exporters, own_api_server=True)
        self.stopping = threading.Event()
        # Bumped by reset(): a request that arrived before a reset must not land after it.
        self.epoch = 0
        self.create_seed_namespaces()

    def create_seed_namespaces(self) -> None:
        for namespace in self.seed_namespaces:
            if self.store.find(NAMESPACE, None, namespace) is None:
                self.store.create(NAMESPACE, None, {"metadata": {"name": namespace}})

    def reset(self) -> None:
        self.epoch += 1
        self.faults.reset()
        self.controller.set_paused(False)
        # One step for the controller: its next pass sees the seeds, their nodes and quotas in place.
        with self.store.condition:
            self.store.reset()
            self.controller.reset()
            self.exporters.reset()
            self.create_seed_namespaces()
            self.controller.reconcile_infrastructure()


def _discovery_resources(group: str, version: str) -> list[dict]:
    resources = []
    for kind in ALL_KINDS:
        if kind.group == group and kind.version == version:
            verbs = ["get", "list", "watch"] + (["create", "update", "patch", "delete"] if kind.writable else [])
            resources.append(
                {
                    "name": kind.plural,
                    "singularName": kind.kind.lower(),
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": verbs,
                }
            )
    return resources


class KubernetesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, delayed ACKs add 40 ms per request.
    disable_nagle_algorithm = True
    server: ClusterServer

    def log_message(self, format, *args):
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # -- plumbing --------------------------------------------------------------------------------

    def _send_json(self, code: int, payload) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(code)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        raw = self._raw_body
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    def _identity(self) -> Identity:
        header = self.headers.get("Authorization", "")
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        if token and token == self.server.admin_token:
            return Identity("devcluster-admin", None)
        if token in self.server.tenant_tokens:
            namespaces = self.server.tenant_tokens[token]
            return Identity(f"system:serviceaccount:{sorted(namespaces)[0]}:portal", namespaces)
        raise errors.ApiError(401, "Unauthorized", "Unauthorized")

    def _handle(self, method: str) -> None:
        # Read the whole body before anything can answer: an error sent while it is still unread
        # would leave it on a kept-alive connection, to be parsed as the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self._raw_body = self.rfile.read(length) if length > 0 else b""
        try:
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            parts = [unquote(part) for part in url.path.strip("/").split("/") if part]
            # A client that quotes `name/restart` as one path parameter sends %2F.
            parts = [piece for part in parts for piece in part.split("/")]
            if method == "GET" and parts in (["healthz"], ["readyz"], ["livez"]):
                self._send_json(200, None)
                return
            # Like system:public-info-viewer on a real cluster, anyone may read the version.
            if method == "GET" and parts == ["version"]:
                self._discovery(parts)
                return
            identity = self._identity()
            if parts[:1] == ["_devcluster"]:
                self._control(method, identity, parts[1:])
                return
            self._kubernetes(method, identity, parts, query)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("unexpected failure on %s %s", method, self.path)
            self._send_json(500, errors.ApiError(500, "InternalError", f"Internal error occurred: {exc}").status())

    # -- the Kubernetes surface --------------------------------------------------------------------

    def _kubernetes(self, method: str, identity: Identity, parts: list[str], query: dict) -> None:
        faults = self.server.faults
        if faults.latency_ms:
            epoch = self.server.epoch
            time.sleep(faults.latency_ms / 1000)
            if self.server.epoch != epoch:
                raise errors.ApiError(503, "ServiceUnavailable", "the development cluster was reset meanwhile")
        if faults.roll(faults.error_rate):
            raise errors.ApiError(500, "InternalError", "Internal error occurred: injected by devcluster (error_rate)")
        if method == "GET" and self._discovery(parts):
            return
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces" and (len(rest) > 2 or group):
            namespace, rest = rest[1], rest[2:]
        if group == SUBRESOURCE_GROUP:
            self._power_action(method, identity, namespace, rest)
            return
        kind = find_kind(group, version, rest[0]) if rest else None
        status = len(rest) == 3 and rest[2] == "status" and kind is not None and kind.status_subresource
        if (
            kind is None
            or len(rest) > 3
            or (len(rest) == 3 and not status)
            or (not kind.namespaced and namespace is not None)
        ):
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        self._resource(method, identity, kind, namespace, name, query, status=status)

    def _discovery(self, parts: list[str]) -> bool:
        payload = None
        if parts == ["version"]:
            payload = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-devcluster", "platform": "linux/amd64"}
        elif parts == ["api"]:
            payload = {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            }
        elif parts == ["api", "v1"]:
            payload = {"kind": "APIResourceList", "groupVersion": "v1", "resources": _discovery_resources("", "v1")}
        elif parts == ["apis"]:
            groups = sorted({(kind.group, kind.version) for kind in ALL_KINDS if kind.group})
            groups.append((SUBRESOURCE_GROUP, "v1"))
            payload = {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": group,
                        "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                        "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
                    }
                    for group, version in groups
                ],
            }
        elif len(parts) == 3 and parts[0] == "apis":
            resources = _discovery_resources(parts[1], parts[2])
            if not resources and parts[1] != SUBRESOURCE_GROUP:
                return False
            payload = {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{parts[1]}/{parts[2]}",
                "resources": resources,
            }
        if payload is None:
            return False
        self._send_json(200, payload)
        return True

    def _resource(
        self, method: str, identity: Identity, kind: Kind, namespace, name, query: dict, *, status: bool
    ) -> None:
        store, faults = self.server.store, self.server.faults
        if status and method not in ("GET", "PUT", "PATCH"):
            raise errors.method_not_allowed()
        if method == "GET":
            if name is not None:
                identity.check("get", kind, namespace, name, status=status)
                self._send_json(200, store.get(kind, namespace, name))
                return
            watching = query.get("watch") in ("1", "true", "True")
            identity.check("watch" if watching else "list", kind, namespace)
            label_match = parse_label_selector(query.get("labelSelector"))
            field_match = parse_field_selector(kind.plural, query.get("fieldSelector"))
            if watching:
                self._watch(kind, namespace, label_match, field_match, query)
            else:
                self._list(kind, namespace, label_match, field_match, query)
            return
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        identity.check(verb, kind, namespace, name, status=status)
        if not kind.writable:
            raise errors.method_not_allowed()
        if (method == "POST") != (name is None):
            raise errors.method_not_allowed()
        body = self._read_body()
        if method in ("PUT", "PATCH") and faults.roll(faults.conflict_rate):
            raise errors.conflict(kind, name)
        if method == "POST":
            self._send_json(201, store.create(kind, namespace, body))
        elif method == "PUT":
            self._send_json(200, store.update(kind, namespace, name, body, status=status))
        elif method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type != JSON_PATCH and content_type not in MERGE_PATCHES:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {JSON_PATCH}, application/merge-patch+json",
                )
            self._send_json(200, store.patch(kind, namespace, name, body, content_type, status=status))
        else:
            preconditions = (body or {}).get("preconditions") if isinstance(body, dict) else None
            self._send_json(200, store.delete(kind, namespace, name, preconditions))

    def _list(self, kind: Kind, namespace, label_match, field_match, query: dict) -> None:
        items, resource_version = self.server.store.list(
            kind, namespace, label_match=label_match, field_match=field_match
        )
        metadata = {"resourceVersion": resource_version}
        start = query.get("continue")
        if start:
            items = [
                item
                for item in items
                if (item["metadata"].get("namespace", ""), item["metadata"]["name"]) > tuple(start.split("/", 1))
            ]
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            metadata["continue"] = f"{last.get('namespace', '')}/{last['name']}"
            metadata["remainingItemCount"] = 0
        self._send_json(
            200, {"apiVersion": kind.api_version, "kind": f"{kind.kind}List", "metadata": metadata, "items": items}
        )

    def _power_action(self, method: str, identity: Identity, namespace, rest: list[str]) -> None:
        if len(rest) != 3 or rest[0] != "virtualmachines" or rest[2] not in POWER_ACTIONS or namespace is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if method != "PUT":
            raise errors.method_not_allowed()
        name, action = rest[1], rest[2]
        identity.check("update", KUBEVIRT_VM, namespace, name)
        self._read_body()
        faults = self.server.faults
        if faults.roll(faults.conflict_rate):
            raise errors.conflict(KUBEVIRT_VM, name)
        refusal = self.server.controller.request_power_change(namespace, name, action)
        if refusal:
            raise errors.ApiError(409, "Conflict", refusal)
        self._send_json(202, None)

    # -- watch -------------------------------------------------------------------------------------

    def _watch(self, kind: Kind, namespace, label_match, field_match, query: dict) -> None:
        store, faults = self.server.store, self.server.faults
        matches = lambda obj: label_match(obj["metadata"].get("labels") or {}) and field_match(obj)  # noqa: E731
        requested = query.get("resourceVersion") or "0"
        if not requested.isdecimal():
            raise errors.bad_request(f'resourceVersion: Invalid value: "{requested}": must be an integer')
        with store.condition:
            if requested == "0":
                items, current = store.list(kind, namespace, label_match=label_match, field_match=field_match)
                backlog = [("ADDED", item) for item in items]
                last_version = int(current)
            else:
                last_version = int(requested)
                backlog = None
        timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        drop_after_seconds = faults.drop_watch_after_seconds
        deadline = time.monotonic() + min(timeout, drop_after_seconds if drop_after_seconds is not None else timeout)
        drop_after_events = faults.drop_watch_after_events
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0

        def emit(event_type: str, obj: dict) -> bool:
            nonlocal sent
            line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
            sent += 1
            return drop_after_events is not None and sent >= drop_after_events

        try:
            dropped = any(emit(event_type, obj) for event_type, obj in backlog or [])
            while not dropped and time.monotonic() < deadline and not self.server.stopping.is_set():
                events = store.events_after(last_version)
                if events is None:
                    emit(
                        "ERROR",
                        errors.ApiError(
                            410,
                            "Expired",
                            f"too old resource version: {last_version} ({store.oldest_resumable_version + 1})",
                        ).status(),
                    )
                    break
                for event in events:
                    last_version = event.resource_version
                    if event.kind_key != kind.key or (namespace is not None and event.namespace != namespace):
                        continue
                    translated = self._translate(event, matches)
                    if translated and emit(translated, event.object):
                        dropped = True
                        break
                if not dropped:
                    store.wait_for_change(last_version, min(0.5, max(0.0, deadline - time.monotonic())))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            self.close_connection = True

    @staticmethod
    def _translate(event, matches) -> str | None:
        """The event a selector-filtered watcher sees: objects entering or leaving the selection."""
        was_in = event.previous is not None and matches(event.previous)
        if event.type == "DELETED":
            return "DELETED" if was_in else None
        is_in = matches(event.object)
        if is_in:
            return "MODIFIED" if was_in else "ADDED"
        return "DELETED" if was_in else None

    # -- control API (not part of Kubernetes) ------------------------------------------------------

    def _control(self, method: str, identity: Identity, parts: list[str]) -> None:
        if identity.namespaces is not None:
            raise errors.ApiError(403, "Forbidden", "the devcluster control API needs the admin token")
        server = self.server
        route = "/".join(parts)
        if (method, route) == ("POST", "reset"):
            server.reset()
            self._send_json(200, {"reset": True})
            return
        payload = server.control.handle(method, route, self._read_body())
        if route == "state":
            payload["resourceVersion"] = server.store.resource_version
        self._send_json(200, payload)
