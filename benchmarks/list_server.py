"""A stand-in Kubernetes API that answers LIST requests with prepared payloads, fast enough to
hold thousands of VMs, so the status sync can be measured at scale through the real
`kubernetes` client over HTTP. It counts requests per method and path, honours a field selector
on `metadata.name`, and can refuse a path as the API server would (e.g. 403 on nodes)."""

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from vms.cluster.gateway import DATA_VOLUME, EVENT, KUBEVIRT_VM, NODE, RESOURCE_QUOTA, SERVICE, VM_DISK, VM_INSTANCE
from vms.render.manifests import LABEL_MANAGED_BY, LABEL_VM_ID, MANAGED_BY_PORTAL

# The server checks no credentials; the kubeconfig still needs a token for the client to send.
TOKEN = "list-server-token"  # noqa: S105
EMPTY_LIST = b'{"kind": "List", "metadata": {}, "items": []}'
GPUS_PER_NODE = 8


def _named(body: bytes, query: str) -> bytes:
    """The list in `body` cut down to what a `fieldSelector=metadata.name=…` in `query` selects."""
    selector = parse_qs(query).get("fieldSelector", [""])[0]
    field, _, name = selector.partition("=")
    if field != "metadata.name":
        return body
    payload = json.loads(body)
    payload["items"] = [item for item in payload["items"] if item["metadata"]["name"] == name]
    return json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        self.server.requests[("GET", url.path)] += 1
        status, body = self.server.refusals.get(url.path, (200, None))
        if body is None:
            body = _named(self.server.payloads.get(url.path, EMPTY_LIST), url.query)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ListServer:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.payloads = {}
        self.server.refusals = {}
        self.server.requests = Counter()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def requests(self) -> Counter:
        return self.server.requests

    def serve(self, namespace: str | None, objects_by_kind: dict) -> None:
        """Serves the lists of `namespace` (None: of cluster-scoped kinds) from now on."""
        for kind, items in objects_by_kind.items():
            self.server.refusals.pop(kind.path(namespace), None)
            self.server.payloads[kind.path(namespace)] = json.dumps(
                {"kind": f"{kind.kind}List", "metadata": {"resourceVersion": "1"}, "items": items}
            ).encode()

    def refuse(
        self, kind, namespace: str | None = None, *, status: int = 403, reason: str = "Forbidden", message: str = ""
    ) -> None:
        """Answers LISTs of `kind` with the Status object the API server sends on such a refusal
        (by default RBAC's 403 to a tenant-scoped service account)."""
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = message or (
            f'{kind.plural} is forbidden: User "system:serviceaccount:tenant-root:gpu-portal" '
            f'cannot list resource "{kind.plural}" in API group "{kind.group}" {scope}'
        )
        self.server.refusals[kind.path(namespace)] = (
            status,
            json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": reason,
                    "details": {"kind": kind.plural},
                    "code": status,
                }
            ).encode(),
        )

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "bench",
                    "clusters": [{"name": "bench", "cluster": {"server": self.url}}],
                    "users": [{"name": "bench", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
                }
            )
        )
        return path


def running_vm_objects(vm, *, gpu_resource: str, ip: str) -> dict:
    """What a Cozystack 1.x cluster holds for a running VM with only a system disk, by kind."""
    labels = {LABEL_MANAGED_BY: MANAGED_BY_PORTAL, LABEL_VM_ID: str(vm.pk)}
    # What the vm-instance / vm-disk charts put on their children (never the app's labels).
    chart = {
        "helm.sh/chart": "vm-instance-0.1.0",
        "app.kubernetes.io/name": "vm-instance",
        "app.kubernetes.io/instance": f"vm-instance-{vm.name}",
        "app.kubernetes.io/managed-by": "Helm",
    }
    disk = {"app.kubernetes.io/instance": f"vm-disk-{vm.name}-os"}
    namespace, name = vm.team.namespace, vm.name

    def metadata(object_name, object_labels):
        return {
            "name": object_name,
            "namespace": namespace,
            "labels": object_labels,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }

    ready = [{"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "Helm install succeeded"}]
    return {
        VM_INSTANCE: [
            {"metadata": metadata(name, labels), "spec": {"runStrategy": "Always"}, "status": {"conditions": ready}}
        ],
        VM_DISK: [{"metadata": metadata(f"{name}-os", labels), "spec": {}, "status": {"conditions": ready}}],
        KUBEVIRT_VM: [
            {
                "metadata": metadata(f"vm-instance-{name}", chart),
                "spec": {
                    "runStrategy": "Always",
                    "template": {
                        "spec": {
                            "domain": {
                                "devices": {
                                    "gpus": [
                                        {"name": f"gpu{i}", "deviceName": gpu_resource} for i in range(vm.gpu_count)
                                    ]
                                }
                            }
                        }
                    },
                },
                "status": {
                    "printableStatus": "Running",
                    "ready": True,
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        ],
        DATA_VOLUME: [
            {"metadata": metadata(f"vm-disk-{name}-os", disk), "status": {"phase": "Succeeded", "progress": "100.0%"}}
        ],
        SERVICE: [
            {
                "metadata": metadata(f"vm-instance-{name}", {**chart, "apps.cozystack.io/user-service": "true"}),
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
            }
        ],
        EVENT: [],
    }


def tenant_quota(*, hard: dict[str, int], used: dict[str, int], name: str = "tenant-quota") -> dict:
    """A ResourceQuota as the API server reports it once its controller has counted (`hard`
    and `used` by quota key, e.g. requests.nvidia.com/H100_94GB)."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name},
        "spec": {"hard": {key: str(value) for key, value in hard.items()}},
        "status": {
            "hard": {key: str(value) for key, value in hard.items()},
            "used": {key: str(value) for key, value in used.items()},
        },
    }


def gpu_node(name: str, allocatable: dict[str, int]) -> dict:
    """A Node with what its device plugins advertise, among its CPU, memory and pods."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "allocatable": {
                "cpu": "127500m",
                "memory": "1031800Mi",
                "pods": "250",
                "ephemeral-storage": "1800Gi",
                **{resource: str(count) for resource, count in allocatable.items()},
            },
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def serve_fleet(server: ListServer, vms) -> None:
    """Serves, per namespace, the objects of every VM in `vms` (running, system disk only) and a
    tenant-quota with room for as many GPUs again; and nodes with room for all of them and a
    few more."""
    by_namespace: dict[str, dict] = {}
    gpus: dict[str, Counter] = {}
    for index, vm in enumerate(vms):
        kinds = by_namespace.setdefault(vm.team.namespace, {})
        ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        for kind, items in running_vm_objects(vm, gpu_resource=vm.gpu_model.resource_name, ip=ip).items():
            kinds.setdefault(kind, []).extend(items)
        gpus.setdefault(vm.team.namespace, Counter())[f"requests.{vm.gpu_model.resource_name}"] += vm.gpu_count
    for namespace, kinds in by_namespace.items():
        used = gpus[namespace]
        server.serve(
            namespace,
            {**kinds, RESOURCE_QUOTA: [tenant_quota(hard={key: 2 * count for key, count in used.items()}, used=used)]},
        )
    held: Counter = Counter()
    for used in gpus.values():
        held.update({key.removeprefix("requests."): count for key, count in used.items()})
    nodes = []
    for resource, count in sorted(held.items()):
        for _ in range(count // GPUS_PER_NODE + 1):
            nodes.append(gpu_node(f"gpu-node-{len(nodes):04d}", {resource: GPUS_PER_NODE}))
    server.serve(None, {NODE: nodes})


def create_fleet(*, owner, namespaces: int, vms_per_namespace: int, first: int = 0) -> list:
    """Running L40S VMs in teams bench-000…, `vms_per_namespace` each, numbered from `first`;
    returns every VM of those teams, ready for `serve_fleet`."""
    from vms.models import GpuModel, InstanceType, Team, VirtualMachine

    teams = [Team.objects.get_or_create(name=f"bench-{index:03d}")[0] for index in range(namespaces)]
    instance_type = InstanceType.objects.get(name="g1.large")
    gpu_model = GpuModel.objects.get(slug="L40S")
    VirtualMachine.objects.bulk_create(
        [
            VirtualMachine(
                team=team,
                owner=owner,
                name=f"vm-{number:05d}",
                instance_type=instance_type,
                gpu_model=gpu_model,
                gpu_count=instance_type.gpu_count,
                image="ubuntu",
                system_disk_gib=50,
                system_disk_class="replicated",
                public_ports=[22],
                state=VirtualMachine.State.RUNNING,
            )
            for team in teams
            for number in range(first, first + vms_per_namespace)
        ],
        batch_size=1000,
    )
    return list(VirtualMachine.objects.filter(team__in=teams).select_related("team", "gpu_model").order_by("pk"))
