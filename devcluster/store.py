"""The in-memory object store: one lock, one resourceVersion counter, a bounded event history.

Every change gets the next resourceVersion and one watch event in the history, so a watch can
resume from any resourceVersion still in the history and is told 410 Expired otherwise.

It also does, within each write, what a real cluster's API server and kube-controller-manager
do around it: status only through the status subresource, Service addresses, the ResourceQuota
admission check and status.used, garbage collection through ownerReferences; and, when asked
(`finalize_namespaces`), the namespace controller's work.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import uuid
from collections import deque
from datetime import UTC, datetime

from devcluster import errors
from devcluster.kinds import ALL_KINDS, NAMESPACE, POD, RESOURCE_QUOTA, SERVICE, Kind
from devcluster.quantities import whole_quantity

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
DNS1035_MESSAGE = (
    "a lowercase RFC 1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
    "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1123_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
# Fields of metadata only the server sets: a client's value is ignored on every write.
SERVER_OWNED_METADATA = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "resourceVersion",
    "name",
    "namespace",
)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _json_pointer(path: str) -> list:
    if not path.startswith("/"):
        raise errors.bad_request(f"invalid JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def json_patch(target: dict, operations: list) -> dict:
    """RFC 6902 JSON patch (add, remove, replace, test): what the client sends for a list body."""
    result = copy.deepcopy(target)
    for operation in operations:
        op, parts = operation.get("op"), _json_pointer(operation.get("path", ""))
        parent = result
        try:
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            last = parts[-1]
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op == "add":
                    parent.insert(index, operation["value"])
                elif op == "remove":
                    parent.pop(index)
                elif op == "replace":
                    parent[index] = operation["value"]
                elif op == "test" and parent[index] != operation["value"]:
                    raise errors.ApiError(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in "
                        f"our request: testing value {operation['path']} failed",
                    )
            elif op in ("add", "replace"):
                if op == "replace" and last not in parent:
                    raise KeyError(last)
                parent[last] = operation["value"]
            elif op == "remove":
                del parent[last]
            elif op == "test" and parent.get(last) != operation["value"]:
                raise errors.ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our "
                    f"request: testing value {operation['path']} failed",
                )
            elif op not in ("test",):
                raise errors.bad_request(f"unsupported JSON patch operation: {op!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise errors.ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our "
                f"request: {op} operation does not apply: doc is missing path: "
                f"{operation.get('path')}",
            ) from exc
    return result


def _tracks_generation(kind: Kind) -> bool:
    """Custom resources (every group-qualified kind here) count spec changes in metadata.generation."""
    return bool(kind.group)


def _pod_usage(pod: dict) -> dict[str, int]:
    """What the quota controller counts for a pod: its containers' requests and limits, and itself."""
    usage = {"pods": 1, "count/pods": 1}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for scope in ("requests", "limits"):
            for resource, quantity in (resources.get(scope) or {}).items():
                key = f"{scope}.{resource}"
                usage[key] = usage.get(key, 0) + whole_quantity(quantity)
                if scope == "requests":
                    usage[resource] = usage.get(resource, 0) + whole_quantity(quantity)
    return usage


def _spec_of(obj: dict) -> dict:
    """Everything that bumps metadata.generation when it changes."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status", "apiVersion", "kind")}


class WatchEvent:
    __slots__ = ("kind_key", "namespace", "object", "previous", "resource_version", "type")

    def __init__(self, resource_version, kind_key, namespace, event_type, obj, previous):
        self.resource_version = resource_version
        self.kind_key = kind_key
        self.namespace = namespace
        self.type = event_type
        self.object = obj
        self.previous = previous


class Store:
    def __init__(self, *, history_size: int = 5000):
        self.condition = threading.Condition(threading.RLock())
        self.history_size = history_size
        self.reset()

    def reset(self):
        with self.condition:
            self.objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
            self.resource_version = getattr(self, "resource_version", 0)
            self.history: deque[WatchEvent] = deque()
            # Watches from a resourceVersion below this one missed events that left the history.
            self.oldest_resumable_version = self.resource_version
            self.condition.notify_all()

    # -- reads -------------------------------------------------------------------------------

    def _bucket(self, kind: Kind) -> dict:
        return self.objects.setdefault(kind.key, {})

    def get(self, kind: Kind, namespace: str, name: str) -> dict:
        with self.condition:
            obj = self._bucket(kind).get((namespace or "", name))
            if obj is None:
                raise errors.not_found(kind, name)
            return copy.deepcopy(obj)

    def find(self, kind: Kind, namespace: str, name: str) -> dict | None:
        with self.condition:
            obj = self._bucket(kind).get((namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: Kind, namespace: str | None = None, *, label_match=None, field_match=None):
        """Returns (items sorted by namespace and name, the current resourceVersion)."""
        with self.condition:
            items = [
                copy.deepcopy(obj)
                for (obj_namespace, _), obj in sorted(self._bucket(kind).items())
                if (namespace is None or obj_namespace == namespace)
                and (label_match is None or label_match(obj["metadata"].get("labels") or {}))
                and (field_match is None or field_match(obj))
            ]
            return items, str(self.resource_version)

    def namespace_is_empty(self, namespace: str) -> bool:
        with self.condition:
            return not any(
                key[0] == namespace
                for kind_key, bucket in self.objects.items()
                if kind_key != NAMESPACE.key
                for key in bucket
            )

    # -- writes by clients (with the API server's checks) ------------------------------------

    def create(self, kind: Kind, namespace: str | None, body: dict) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        metadata = body.setdefault("metadata", {})
        self._check_type_and_namespace(kind, namespace, body)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
        name = metadata.get("name") or ""
        self._validate(kind, name, metadata)
        with self.condition:
            if kind.namespaced:
                self._require_active_namespace(namespace)
            bucket = self._bucket(kind)
            if (namespace or "", name) in bucket:
                raise errors.already_exists(kind, name)
            obj = copy.deepcopy(body)
            obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "resourceVersion", "generation"):
                obj["metadata"].pop(field, None)
            obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=timestamp())
            if kind.namespaced:
                obj["metadata"]["namespace"] = namespace
            if _tracks_generation(kind):
                obj["metadata"]["generation"] = 1
            if kind.status_subresource:
                obj.pop("status", None)
            if kind is NAMESPACE:
                obj["status"] = {"phase": "Active"}
                obj["spec"] = {"finalizers": ["kubernetes"]}
            if kind is SERVICE:
                self._allocate_cluster_ip(obj)
            if kind is POD:
                self._admit_pod(namespace, obj)
            return self._commit(kind, obj, None)

    def update(self, kind: Kind, namespace: str | None, name: str, body: dict, *, status: bool = False) -> dict:
        """PUT of the main resource, or of its status subresource (`status=True`)."""
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        self._check_type_and_namespace(kind, namespace, body)
        if body["metadata"].get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({body['metadata'].get('name')}) does not match the name on the URL ({name})"
            )
        self._validate(kind, name, body["metadata"])
        with self.condition:
            current = self._current(kind, namespace, name)
            sent_version = body["metadata"].get("resourceVersion")
            if not sent_version:
                raise errors.invalid(
                    kind, name, [("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")]
                )
            if str(sent_version) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(kind, name)
            return self._client_write(kind, current, body, status=status)

    def patch(
        self, kind: Kind, namespace: str | None, name: str, patch, content_type: str, *, status: bool = False
    ) -> dict:
        with self.condition:
            current = self._current(kind, namespace, name)
            if content_type == "application/json-patch+json":
                if not isinstance(patch, list):
                    raise errors.bad_request("the body of a JSON patch must be a list of operations")
                patched = json_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise errors.bad_request("the body of a merge patch must be a JSON object")
                sent_version = (patch.get("metadata") or {}).get("resourceVersion")
                if sent_version and str(sent_version) != current["metadata"]["resourceVersion"]:
                    raise errors.conflict(kind, name)
                patched = merge_patch(current, patch)
            if not isinstance(patched.get("metadata"), dict):
                raise errors.bad_request("metadata must be an object")
            self._validate(kind, name, patched["metadata"])
            return self._client_write(kind, current, patched, status=status)

    def delete(self, kind: Kind, namespace: str | None, name: str, preconditions: dict | None = None) -> dict:
        with self.condition:
            current = self._current(kind, namespace, name)
            preconditions = preconditions or {}
            if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
                raise errors.ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.qualified} "{name}": Precondition failed: '
                    f"UID in precondition: {preconditions['uid']}, UID in object meta: {current['metadata']['uid']}",
                    {"name": name, "group": kind.group, "kind": kind.plural},
                )
            if (
                preconditions.get("resourceVersion")
                and preconditions["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                raise errors.conflict(kind, name)
            return self.mark_deleted(kind, current)

    def bind(self, namespace: str, name: str, node: str) -> dict:
        """POST .../pods/NAME/binding: what the scheduler does to place a pending pod."""
        with self.condition:
            current = self._current(POD, namespace, name)
            if (current.get("spec") or {}).get("nodeName"):
                raise errors.ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on pods/binding "{name}": pod '
                    f'{name} is already assigned to node "{current["spec"]["nodeName"]}"',
                    {"name": name, "kind": "pods"},
                )
            bound = copy.deepcopy(current)
            bound.setdefault("spec", {})["nodeName"] = node
            return self._commit(POD, bound, current)

    def mark_deleted(self, kind: Kind, obj: dict) -> dict:
        """Deletes now, or sets deletionTimestamp and waits for the finalizers to be removed."""
        with self.condition:
            current = self._current(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if kind is NAMESPACE:
                if current["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(current)
                terminating = copy.deepcopy(current)
                terminating["metadata"]["deletionTimestamp"] = timestamp()
                terminating["status"] = {"phase": "Terminating"}
                return self._commit(kind, terminating, current)
            if current["metadata"].get("finalizers"):
                if current["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(current)
                terminating = copy.deepcopy(current)
                terminating["metadata"]["deletionTimestamp"] = timestamp()
                terminating["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit(kind, terminating, current)
            return self._remove(kind, current)

    # -- what kube-controller-manager does on a real cluster ----------------------------------

    def finalize_namespaces(self) -> None:
        """The namespace controller: deletes what a terminating namespace holds, then the namespace
        once nothing is left (objects with finalizers wait for their controllers)."""
        with self.condition:
            for (_, name), namespace in list(self._bucket(NAMESPACE).items()):
                if not namespace["metadata"].get("deletionTimestamp"):
                    continue
                for kind in ALL_KINDS:
                    if kind is NAMESPACE:
                        continue
                    for (obj_namespace, _), obj in list(self._bucket(kind).items()):
                        if obj_namespace == name and not obj["metadata"].get("deletionTimestamp"):
                            self.mark_deleted(kind, obj)
                if self.namespace_is_empty(name):
                    self._remove(NAMESPACE, namespace)

    # -- watch --------------------------------------------------------------------------------

    def events_after(self, resource_version: int) -> list[WatchEvent] | None:
        """Events newer than `resource_version`, or None when some of them left the history."""
        with self.condition:
            if resource_version < self.oldest_resumable_version:
                return None
            return [event for event in self.history if event.resource_version > resource_version]

    def wait_for_change(self, resource_version: int, timeout: float) -> None:
        with self.condition:
            if self.resource_version <= resource_version:
                self.condition.wait(timeout)

    # -- internals ----------------------------------------------------------------------------

    def _current(self, kind: Kind, namespace: str | None, name: str) -> dict:
        current = self._bucket(kind).get((namespace or "", name))
        if current is None:
            raise errors.not_found(kind, name)
        return current

    def _client_write(self, kind: Kind, current: dict, body: dict, *, status: bool = False) -> dict:
        if status:
            if not kind.status_subresource:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            # A status write keeps everything else as stored, metadata included.
            obj = copy.deepcopy(current)
            if "status" in body:
                obj["status"] = copy.deepcopy(body["status"])
            else:
                obj.pop("status", None)
        else:
            obj = self._main_resource_write(kind, current, body)
        if obj == current:
            return copy.deepcopy(current)
        if current["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            return self._remove(kind, current)
        return self._commit(kind, obj, current)

    def _main_resource_write(self, kind: Kind, current: dict, body: dict) -> dict:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        for field in SERVER_OWNED_METADATA:
            if field in current["metadata"]:
                obj["metadata"][field] = current["metadata"][field]
            else:
                obj["metadata"].pop(field, None)
        if kind.status_subresource:
            if "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            else:
                obj.pop("status", None)
        if kind is NAMESPACE:
            obj["spec"] = copy.deepcopy(current.get("spec", {}))
        if kind is SERVICE and isinstance(obj.get("spec"), dict) and not obj["spec"].get("clusterIP"):
            # An update that leaves the allocated address out keeps it, as the API server does.
            obj["spec"]["clusterIP"] = current.get("spec", {}).get("clusterIP")
        if _tracks_generation(kind) and _spec_of(obj) != _spec_of(current):
            obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        return obj

    def _commit(self, kind: Kind, obj: dict, previous: dict | None) -> dict:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        namespace = obj["metadata"].get("namespace") or ""
        self._bucket(kind)[(namespace, obj["metadata"]["name"])] = obj
        self._record("ADDED" if previous is None else "MODIFIED", kind, namespace, obj, previous)
        stored = copy.deepcopy(obj)
        if kind in (POD, RESOURCE_QUOTA):
            self._refresh_quota_usage(namespace)
        return stored

    def _remove(self, kind: Kind, current: dict) -> dict:
        namespace = current["metadata"].get("namespace") or ""
        del self._bucket(kind)[(namespace, current["metadata"]["name"])]
        self.resource_version += 1
        removed = copy.deepcopy(current)
        removed["metadata"]["resourceVersion"] = str(self.resource_version)
        self._record("DELETED", kind, namespace, removed, current)
        if kind is POD:
            self._refresh_quota_usage(namespace)
        self._collect_dependents(current["metadata"]["uid"])
        return copy.deepcopy(removed)

    def _collect_dependents(self, owner_uid: str) -> None:
        """The garbage collector: what an ownerReference ties to a vanished owner goes too."""
        for kind in ALL_KINDS:
            for obj in list(self._bucket(kind).values()):
                references = obj["metadata"].get("ownerReferences") or []
                if any(reference.get("uid") == owner_uid for reference in references) and not any(
                    self._uid_exists(reference.get("uid")) for reference in references
                ):
                    key = (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
                    if key in self._bucket(kind):
                        self.mark_deleted(kind, obj)

    def _uid_exists(self, uid: str | None) -> bool:
        return any(obj["metadata"].get("uid") == uid for bucket in self.objects.values() for obj in bucket.values())

    # -- what the quota admission plugin and the quota controller do -----------------------------

    def _namespace_usage(self, namespace: str) -> dict[str, int]:
        usage: dict[str, int] = {}
        for (pod_namespace, _), pod in self._bucket(POD).items():
            if pod_namespace != namespace or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for key, amount in _pod_usage(pod).items():
                usage[key] = usage.get(key, 0) + amount
        return usage

    def _refresh_quota_usage(self, namespace: str) -> None:
        """Keeps each quota's status.used at what the namespace's pods request. A real cluster's
        quota controller does it a moment later; here it is part of the write."""
        quotas = [obj for (obj_namespace, _), obj in self._bucket(RESOURCE_QUOTA).items() if obj_namespace == namespace]
        if not quotas:
            return
        usage = self._namespace_usage(namespace)
        for quota in quotas:
            hard = copy.deepcopy((quota.get("spec") or {}).get("hard") or {})
            status = {"hard": hard, "used": {key: str(usage.get(key, 0)) for key in hard}}
            if quota.get("status") != status:
                updated = copy.deepcopy(quota)
                updated["status"] = status
                self._commit(RESOURCE_QUOTA, updated, quota)

    def _admit_pod(self, namespace: str, pod: dict) -> None:
        """Refuses a pod that would take a quota of the namespace over its hard limit."""
        requested = _pod_usage(pod)
        usage = self._namespace_usage(namespace)
        for (quota_namespace, quota_name), quota in sorted(self._bucket(RESOURCE_QUOTA).items()):
            if quota_namespace != namespace:
                continue
            hard = (quota.get("spec") or {}).get("hard") or {}
            over = sorted(
                key
                for key in hard
                if requested.get(key, 0) and usage.get(key, 0) + requested[key] > whole_quantity(hard[key])
            )
            if not over:
                continue
            figures = {
                name: ",".join(f"{key}={value(key)}" for key in over)
                for name, value in (
                    ("requested", requested.get),
                    ("used", lambda key: usage.get(key, 0)),
                    ("limited", hard.get),
                )
            }
            raise errors.ApiError(
                403,
                "Forbidden",
                f'pods "{pod["metadata"]["name"]}" is forbidden: exceeded quota: {quota_name}, '
                f"requested: {figures['requested']}, used: {figures['used']}, limited: {figures['limited']}",
                {"name": pod["metadata"]["name"], "kind": "pods"},
            )

    def _allocate_cluster_ip(self, service: dict) -> None:
        spec = service.setdefault("spec", {})
        if spec.get("clusterIP") or spec.get("type") == "ExternalName":
            return
        taken = {(obj.get("spec") or {}).get("clusterIP") for obj in self._bucket(SERVICE).values()}
        for index in range(1, 65534):
            address = f"10.96.{index // 254}.{index % 254 + 1}"
            if address not in taken:
                spec["clusterIP"] = address
                spec["clusterIPs"] = [address]
                return
        raise errors.ApiError(
            500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full"
        )

    def _record(self, event_type: str, kind: Kind, namespace: str, obj: dict, previous: dict | None):
        self.history.append(
            WatchEvent(
                self.resource_version, kind.key, namespace, event_type, copy.deepcopy(obj), copy.deepcopy(previous)
            )
        )
        while len(self.history) > self.history_size:
            self.oldest_resumable_version = self.history.popleft().resource_version
        self.condition.notify_all()

    def _require_active_namespace(self, namespace: str):
        ns = self._bucket(NAMESPACE).get(("", namespace))
        if ns is None:
            raise errors.not_found(NAMESPACE, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {"name": namespace, "kind": "namespaces"},
            )

    @staticmethod
    def _check_type_and_namespace(kind: Kind, namespace: str | None, body: dict):
        if body.get("apiVersion") not in (None, kind.api_version):
            raise errors.bad_request(
                f"the API version in the data ({body['apiVersion']}) does not match the "
                f"expected API version ({kind.api_version})"
            )
        if body.get("kind") not in (None, kind.kind):
            raise errors.bad_request(
                f"the kind in the data ({body['kind']}) does not match the expected kind ({kind.kind})"
            )
        sent_namespace = body["metadata"].get("namespace")
        if kind.namespaced and sent_namespace and sent_namespace != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    @staticmethod
    def _validate(kind: Kind, name: str, metadata: dict):
        causes = []
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        else:
            if kind.dns1035_names:
                pattern, message = DNS1035_LABEL, DNS1035_MESSAGE
            elif kind.subdomain_names:
                pattern, message = DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MESSAGE
            else:
                pattern, message = DNS1123_LABEL, DNS1123_MESSAGE
            if not pattern.match(name):
                causes.append(("metadata.name", f'Invalid value: "{name}": {message}'))
            if len(name) > kind.max_name_length:
                causes.append(
                    (
                        "metadata.name",
                        f'Invalid value: "{name}": must be no more than {kind.max_name_length} characters',
                    )
                )
        labels = metadata.get("labels") or {}
        if not isinstance(labels, dict):
            causes.append(("metadata.labels", "Invalid value: must be a map of strings"))
            labels = {}
        for key, value in labels.items():
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                causes.append(
                    (
                        "metadata.labels",
                        f'Invalid value: "{value}": a valid label must be an empty '
                        "string or consist of alphanumeric characters, '-', '_' or '.', and must start "
                        "and end with an alphanumeric character (at most 63 characters)",
                    )
                )
            label_name = key.rsplit("/", 1)[-1]
            if len(label_name) > 63 or not LABEL_NAME.match(label_name):
                causes.append(
                    (
                        "metadata.labels",
                        f'Invalid value: "{key}": name part must consist of '
                        "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                        "alphanumeric character (at most 63 characters)",
                    )
                )
        if causes:
            raise errors.invalid(kind, name, causes)
