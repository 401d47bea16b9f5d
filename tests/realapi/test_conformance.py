"""The development cluster's API server against the real one: each case sends the same requests,
through the official `kubernetes` client, to both, and reduces what they answer to an outcome
(status code, reason, fields kept or dropped) that must be the same.

A case whose outcomes differ is listed once, with why: in PENDING_DEVCLUSTER_FIXES when the
development cluster is being changed to answer like the real server, in DOCUMENTED_DIFFERENCES
when the difference is accepted. Listed cases must still differ, so that a fix that lands, or a
difference that goes away, is noticed and its entry removed. Every case also pins what the real
server answers, so a case cannot pass by getting the same wrong answer from both.
"""

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.support import kube
from tests.support.devcluster import DevCluster

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

GROUP, VERSION = "apps.cozystack.io", "v1alpha1"
DEV_TENANT_TOKEN = "conformance-tenant-token"
DEV_TENANT_NAMESPACE = "conformance-tenant"

PENDING_DEVCLUSTER_FIXES: dict[str, str] = {}

DOCUMENTED_DIFFERENCES = {
    "server_metadata": "the development cluster keeps no managedFields (server-side apply bookkeeping the portal "
    "never reads)",
    "schema_defaults": "the development cluster applies no CRD defaults: it stores a spec as sent, where the real "
    "server fills in every defaulted field, so a stored spec never equals the manifest it came "
    "from there (what vms.cluster.provisioning._ensure compares before patching)",
    "unknown_field_strict": "the development cluster ignores fieldValidation; the portal never asks for it, and its "
    "tests check every manifest against the upstream values.schema.json with undeclared "
    "keys forbidden",
    "unknown_field_pruned": "the development cluster keeps unknown fields, which the real server drops with only a "
    "Warning header; what guards the portal is in unknown_field_strict",
    "create_without_kind": "the development cluster takes apiVersion and kind from the URL when the body has none; "
    "the portal's manifests always carry them",
    "kubevirt_vm_create_with_status": "KubeVirt VMs belong to the development cluster's controller: nobody may write "
    "them (405); on a real cluster an admin may, and KubeVirt owns their status",
    "watch_from_an_old_resource_version": "the development cluster resumes a watch from any of its last "
    "--watch-history events; the real server only from its watch cache, "
    "which begins when it starts serving the resource (410 Expired before)",
    "restart_subresource": "the development cluster plays KubeVirt's subresources.kubevirt.io API; a bare "
    "kube-apiserver has no route for it (a plain-text 404, not a Status)",
}


@dataclass(frozen=True)
class Answer:
    code: int
    body: dict | None  # None when the answer was not JSON
    warning: str | None

    @property
    def reason(self) -> str | None:
        body = self.body or {}
        return body.get("reason") if body.get("kind") == "Status" else None

    @property
    def message(self) -> str:
        return (self.body or {}).get("message", "")


@dataclass
class Server:
    admin: client.ApiClient
    tenant: client.ApiClient  # allowed in its own namespace only, never in `namespace`
    namespace: str  # fresh for each test
    settle_seconds: float  # how long asynchronous work (controllers) may take here

    def call(
        self, method: str, path: str, body=None, *, query=(), tenant=False, content_type="application/json"
    ) -> Answer:
        api_client = self.tenant if tenant else self.admin
        try:
            response = api_client.call_api(
                path,
                method,
                query_params=list(query),
                body=body,
                auth_settings=["BearerToken"],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                _preload_content=False,
                _request_timeout=10,
            )
            code, raw, headers = response.status, response.data, response.headers
        except ApiException as exc:
            code, raw, headers = exc.status, exc.body, exc.headers or {}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Answer(code, parsed if isinstance(parsed, dict) else None, headers.get("Warning"))

    def path(self, plural: str, name: str = "", subresource: str = "", *, group=GROUP, version=VERSION) -> str:
        path = f"/apis/{group}/{version}/namespaces/{self.namespace}/{plural}"
        return "/".join(part for part in (path, name, subresource) if part)


@dataclass(frozen=True)
class Case:
    run: Callable[[Server], dict]
    real: dict  # the outcome the real server gives


CASES: dict[str, Case] = {}


def case(**real):
    def register(function):
        CASES[function.__name__] = Case(function, real)
        return function

    return register


def vm_instance(name, **spec):
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VMInstance", "metadata": {"name": name}, "spec": spec}


def vm_disk(name, labels=None):
    # Every field of the schema that has a default is given: the real server then stores the spec as sent.
    disk = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VMDisk",
        "metadata": {"name": name},
        "spec": {
            "source": {"image": {"name": "ubuntu"}},
            "optical": False,
            "storage": "20Gi",
            "storageClass": "replicated",
        },
    }
    if labels:
        disk["metadata"]["labels"] = labels
    return disk


def settled(server: Server, predicate) -> bool:
    deadline = time.monotonic() + server.settle_seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- the cases ------------------------------------------------------------------------------------


@case(code=201, reason=None, spec_as_sent=True, status=False, stored_status=False)
def create_without_status(server):
    body = vm_disk("boot")
    created = server.call("POST", server.path("vmdisks"), body)
    stored = server.call("GET", server.path("vmdisks", "boot")).body
    return {
        "code": created.code,
        "reason": created.reason,
        "spec_as_sent": created.body["spec"] == body["spec"],
        "status": "status" in created.body,
        "stored_status": "status" in stored,
    }


@case(code=201, status=False, stored_status=False)
def create_with_status(server):
    body = vm_instance("gpu-box", runStrategy="Halted")
    body["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded"}]}
    created = server.call("POST", server.path("vminstances"), body)
    stored = server.call("GET", server.path("vminstances", "gpu-box")).body
    return {"code": created.code, "status": "status" in created.body, "stored_status": "status" in stored}


@case(code=201, status=False)
def kubevirt_vm_create_with_status(server):
    answer = server.call(
        "POST",
        server.path("virtualmachines", group="kubevirt.io", version="v1"),
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": "vm-instance-gpu-box"},
            "spec": {"runStrategy": "Always"},
            "status": {"printableStatus": "Running"},
        },
    )
    return {"code": answer.code, "status": answer.code == 201 and "status" in answer.body}


@case(metadata=["creationTimestamp", "generation", "managedFields", "name", "namespace", "resourceVersion", "uid"])
def server_metadata(server):
    created = server.call("POST", server.path("vmdisks"), vm_disk("boot"))
    return {"metadata": sorted(created.body["metadata"])}


@case(
    code=201,
    spec=[
        "cloudInit",
        "cloudInitSeed",
        "cpuModel",
        "disks",
        "external",
        "externalAllowICMP",
        "externalMethod",
        "externalPorts",
        "gpus",
        "instanceProfile",
        "instanceType",
        "networks",
        "resources",
        "runStrategy",
        "sshKeys",
        "subnets",
    ],
)
def schema_defaults(server):
    created = server.call("POST", server.path("vminstances"), vm_instance("gpu-box", runStrategy="Halted"))
    return {"code": created.code, "spec": sorted(created.body["spec"])}


@case(code=400, reason="BadRequest", names_the_field=True, stored=False)
def unknown_field_strict(server):
    body = vm_instance("gpu-box", systemDisk={"image": "ubuntu"})
    answer = server.call("POST", server.path("vminstances"), body, query=[("fieldValidation", "Strict")])
    stored = server.call("GET", server.path("vminstances", "gpu-box"))
    return {
        "code": answer.code,
        "reason": answer.reason,
        "names_the_field": 'unknown field "spec.systemDisk"' in answer.message,
        "stored": stored.code == 200,
    }


@case(code=201, kept=False, warning=True)
def unknown_field_pruned(server):
    answer = server.call("POST", server.path("vminstances"), vm_instance("gpu-box", systemDisk={"image": "ubuntu"}))
    return {
        "code": answer.code,
        "kept": "systemDisk" in answer.body["spec"],
        "warning": 'unknown field \\"spec.systemDisk\\"' in (answer.warning or ""),
    }


@case(code=400, reason="BadRequest")
def create_without_kind(server):
    answer = server.call("POST", server.path("vmdisks"), {"metadata": {"name": "boot"}, "spec": {}})
    return {"code": answer.code, "reason": answer.reason}


@case(answers=[(422, "Invalid", True), (201, None, False)])
def name_too_long(server):
    answers = [server.call("POST", server.path("vminstances"), vm_instance(name)) for name in ("v" * 42, "v" * 41)]
    return {"answers": [(a.code, a.reason, "no more than 41 characters" in a.message) for a in answers]}


@case(
    code=409,
    reason="Conflict",
    message='Operation cannot be fulfilled on vmdisks.apps.cozystack.io "boot": the '
    "object has been modified; please apply your changes to the latest version and try again",
    storage="30Gi",
)
def update_with_stale_resource_version(server):
    created = server.call("POST", server.path("vmdisks"), vm_disk("boot")).body
    first = dict(created, spec={**created["spec"], "storage": "30Gi"})
    server.call("PUT", server.path("vmdisks", "boot"), first)
    stale = dict(created, spec={**created["spec"], "storage": "40Gi"})
    answer = server.call("PUT", server.path("vmdisks", "boot"), stale)
    stored = server.call("GET", server.path("vmdisks", "boot")).body
    return {
        "code": answer.code,
        "reason": answer.reason,
        "message": answer.message,
        "storage": stored["spec"]["storage"],
    }


@case(code=200, status=False, spec_changed=True)
def status_ignored_on_update(server):
    created = server.call("POST", server.path("vmdisks"), vm_disk("boot")).body
    answer = server.call(
        "PUT",
        server.path("vmdisks", "boot"),
        dict(created, spec={**created["spec"], "storage": "30Gi"}, status={"phase": "Succeeded"}),
    )
    return {
        "code": answer.code,
        "status": "status" in answer.body,
        "spec_changed": answer.body["spec"]["storage"] == "30Gi",
    }


@case(code=200, status={"phase": "Succeeded"}, storage="20Gi")
def status_subresource_write(server):
    server.call("POST", server.path("vmdisks"), vm_disk("boot"))
    answer = server.call(
        "PATCH",
        server.path("vmdisks", "boot", "status"),
        {"status": {"phase": "Succeeded"}, "spec": {"storage": "99Gi"}},
        content_type="application/merge-patch+json",
    )
    stored = server.call("GET", server.path("vmdisks", "boot")).body
    return {"code": answer.code, "status": stored.get("status"), "storage": stored["spec"]["storage"]}


@case(
    selections={
        "team=a": ["a1", "a2"],
        "team=a,tier=gold": ["a1"],
        "team!=a": ["b1"],
        "team in (b, c)": ["b1"],
        "!tier": ["a2", "b1"],
    }
)
def list_with_label_selector(server):
    for name, labels in (("a1", {"team": "a", "tier": "gold"}), ("a2", {"team": "a"}), ("b1", {"team": "b"})):
        server.call("POST", server.path("vmdisks"), vm_disk(name, labels))
    selections = {}
    for selector in ("team=a", "team=a,tier=gold", "team!=a", "team in (b, c)", "!tier"):
        listing = server.call("GET", server.path("vmdisks"), query=[("labelSelector", selector)]).body
        selections[selector] = [item["metadata"]["name"] for item in listing["items"]]
    return {"selections": selections}


@case(events=[("ADDED", "r2"), ("ADDED", "r3"), ("MODIFIED", "r2"), ("DELETED", "r3")])
def watch_resumes_from_a_resource_version(server):
    first = server.call("POST", server.path("vmdisks"), vm_disk("r1")).body
    server.call("POST", server.path("vmdisks"), vm_disk("r2"))
    server.call("POST", server.path("vmdisks"), vm_disk("r3"))

    def later_changes():
        server.call(
            "PATCH",
            server.path("vmdisks", "r2"),
            {"spec": {"storage": "8Gi"}},
            content_type="application/merge-patch+json",
        )
        server.call("DELETE", server.path("vmdisks", "r3"))

    # Two events are history by the time the watch starts, two happen while it runs.
    writer = threading.Timer(0.3, later_changes)
    writer.start()
    events = []
    for event in watch.Watch().stream(
        client.CustomObjectsApi(server.admin).list_namespaced_custom_object,
        GROUP,
        VERSION,
        server.namespace,
        "vmdisks",
        timeout_seconds=5,
        resource_version=first["metadata"]["resourceVersion"],
    ):
        events.append((event["type"], event["object"]["metadata"]["name"]))
        if len(events) == 4:
            break
    writer.join()
    return {"events": events}


@case(expired=True)
def watch_from_an_old_resource_version(server):
    server.call("POST", server.path("vmdisks"), vm_disk("boot"))
    try:
        for _ in watch.Watch().stream(
            client.CustomObjectsApi(server.admin).list_namespaced_custom_object,
            GROUP,
            VERSION,
            server.namespace,
            "vmdisks",
            timeout_seconds=1,
            resource_version="1",
        ):
            pass
    except ApiException as exc:
        return {"expired": exc.status == 410}
    return {"expired": False}


@case(code=404, reason="NotFound", message='vminstances.apps.cozystack.io "nope" not found')
def get_missing(server):
    answer = server.call("GET", server.path("vminstances", "nope"))
    return {"code": answer.code, "reason": answer.reason, "message": answer.message}


@case(code=409, reason="AlreadyExists", message='vmdisks.apps.cozystack.io "boot" already exists')
def create_twice(server):
    server.call("POST", server.path("vmdisks"), vm_disk("boot"))
    answer = server.call("POST", server.path("vmdisks"), vm_disk("boot"))
    return {"code": answer.code, "reason": answer.reason, "message": answer.message}


@case(delete_code=200, collected=True)
def owner_deleted_dependent_collected(server):
    owner = server.call("POST", server.path("vminstances"), vm_instance("gpu-box")).body
    dependent = vm_disk("boot")
    dependent["metadata"]["ownerReferences"] = [
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VMInstance", "name": "gpu-box", "uid": owner["metadata"]["uid"]}
    ]
    server.call("POST", server.path("vmdisks"), dependent)
    deleted = server.call("DELETE", server.path("vminstances", "gpu-box"), {"propagationPolicy": "Background"})
    collected = settled(server, lambda: server.call("GET", server.path("vmdisks", "boot")).code == 404)
    return {"delete_code": deleted.code, "collected": collected}


@case(code=404, status_body=False)
def restart_subresource(server):
    answer = server.call(
        "PUT",
        server.path(
            "virtualmachines", "vm-instance-gpu-box", "restart", group="subresources.kubevirt.io", version="v1"
        ),
        {},
    )
    return {"code": answer.code, "status_body": answer.body is not None}


@case(
    code=403,
    reason="Forbidden",
    message='vmdisks.apps.cozystack.io is forbidden: User "<tenant>" cannot list '
    'resource "vmdisks" in API group "apps.cozystack.io" in the namespace "<namespace>"',
)
def tenant_forbidden_elsewhere(server):
    answer = server.call("GET", server.path("vmdisks"), tenant=True)
    message = re.sub(r'User "[^"]+"', 'User "<tenant>"', answer.message).replace(server.namespace, "<namespace>")
    return {"code": answer.code, "reason": answer.reason, "message": message}


@case(code=200, kind="NodeList")
def nodes_list(server):
    answer = server.call("GET", "/api/v1/nodes")
    return {"code": answer.code, "kind": (answer.body or {}).get("kind")}


@case(code=403, reason="Forbidden")
def nodes_forbidden_to_tenant(server):
    answer = server.call("GET", "/api/v1/nodes", tenant=True)
    return {"code": answer.code, "reason": answer.reason}


@case(code=200, kind="ResourceQuotaList")
def resource_quotas_list(server):
    answer = server.call("GET", f"/api/v1/namespaces/{server.namespace}/resourcequotas")
    return {"code": answer.code, "kind": (answer.body or {}).get("kind")}


# -- fixtures and the test --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_clients(real_cluster):
    with real_cluster.namespace("tenant") as tenant_namespace:
        admin = real_cluster.api_client()
        tenant = real_cluster.api_client(real_cluster.tenant_kubeconfig(tenant_namespace))
        yield admin, tenant
        admin.close()
        tenant.close()


@pytest.fixture(scope="module")
def dev_clients(tmp_path_factory):
    with DevCluster(
        tmp_path_factory.mktemp("conformance-devcluster"),
        namespaces=[DEV_TENANT_NAMESPACE],
        tenant_tokens={DEV_TENANT_TOKEN: [DEV_TENANT_NAMESPACE]},
    ) as cluster:
        # Only API semantics are compared: the controller would write statuses and finalizers.
        cluster.faults(paused=True)
        admin, tenant = cluster.api_client(), cluster.api_client(DEV_TENANT_TOKEN)
        yield admin, tenant
        admin.close()
        tenant.close()


@pytest.fixture
def servers(real_cluster, real_clients, dev_clients):
    with real_cluster.namespace("conformance") as namespace:
        client.CoreV1Api(dev_clients[0]).create_namespace({"metadata": {"name": namespace}})
        yield (Server(*real_clients, namespace, settle_seconds=30), Server(*dev_clients, namespace, settle_seconds=1))


def test_every_listed_difference_is_a_case_listed_once():
    assert set(PENDING_DEVCLUSTER_FIXES) <= set(CASES)
    assert set(DOCUMENTED_DIFFERENCES) <= set(CASES)
    assert not set(PENDING_DEVCLUSTER_FIXES) & set(DOCUMENTED_DIFFERENCES)


@pytest.mark.parametrize("name", list(CASES))
def test_the_development_cluster_answers_like_the_real_server(name, servers):
    real_server, dev_server = servers
    real, dev = CASES[name].run(real_server), CASES[name].run(dev_server)

    assert real == CASES[name].real, "the real server's answer is not the one this case records"
    listed_in = [
        listing
        for listing, entries in (
            ("PENDING_DEVCLUSTER_FIXES", PENDING_DEVCLUSTER_FIXES),
            ("DOCUMENTED_DIFFERENCES", DOCUMENTED_DIFFERENCES),
        )
        if name in entries
    ]
    if listed_in:
        assert dev != real, (
            f"the development cluster now answers like the real server: remove {name!r} from {listed_in[0]}"
        )
    else:
        assert dev == real
