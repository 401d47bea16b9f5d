"""A stand-in Kubernetes API that answers LIST requests with prepared payloads, fast enough to
hold thousands of VMs, so the status sync can be measured at scale through the real
`kubernetes` client over HTTP. It counts requests per method and path."""

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from vms.cluster import DATA_VOLUME, EVENT, KUBEVIRT_VM, SERVICE, VM_DISK, VM_INSTANCE
from vms.manifests import LABEL_MANAGED_BY, LABEL_VM_ID, MANAGED_BY_PORTAL

# The server checks no credentials; the kubeconfig still needs a token for the client to send.
TOKEN = "list-server-token"  # noqa: S105


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        self.server.requests[("GET", path)] += 1
        body = self.server.payloads.get(path, b'{"kind": "List", "metadata": {}, "items": []}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ListServer:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.payloads = {}
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

    def serve(self, namespace: str, objects_by_kind: dict) -> None:
        for kind, items in objects_by_kind.items():
            self.server.payloads[kind.path(namespace)] = json.dumps(
                {"kind": f"{kind.kind}List", "metadata": {"resourceVersion": "1"}, "items": items}).encode()

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {"server": self.url}}],
            "users": [{"name": "bench", "user": {"token": TOKEN}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        }))
        return path


def running_vm_objects(vm, *, gpu_resource: str, ip: str) -> dict:
    """What a Cozystack 1.x cluster holds for a running VM with only a system disk, by kind."""
    labels = {LABEL_MANAGED_BY: MANAGED_BY_PORTAL, LABEL_VM_ID: str(vm.pk)}
    # What the vm-instance / vm-disk charts put on their children (never the app's labels).
    chart = {"helm.sh/chart": "vm-instance-0.1.0", "app.kubernetes.io/name": "vm-instance",
             "app.kubernetes.io/instance": f"vm-instance-{vm.name}", "app.kubernetes.io/managed-by": "Helm"}
    disk = {"app.kubernetes.io/instance": f"vm-disk-{vm.name}-os"}
    namespace, name = vm.team.namespace, vm.name

    def metadata(object_name, object_labels):
        return {"name": object_name, "namespace": namespace, "labels": object_labels,
                "creationTimestamp": "2026-01-01T00:00:00Z"}

    ready = [{"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "Helm install succeeded"}]
    return {
        VM_INSTANCE: [{"metadata": metadata(name, labels), "spec": {"runStrategy": "Always"},
                       "status": {"conditions": ready}}],
        VM_DISK: [{"metadata": metadata(f"{name}-os", labels), "spec": {}, "status": {"conditions": ready}}],
        KUBEVIRT_VM: [{"metadata": metadata(f"vm-instance-{name}", chart),
                       "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"devices": {
                           "gpus": [{"name": f"gpu{i}", "deviceName": gpu_resource} for i in range(vm.gpu_count)]}}}}},
                       "status": {"printableStatus": "Running", "ready": True,
                                  "conditions": [{"type": "Ready", "status": "True"}]}}],
        DATA_VOLUME: [{"metadata": metadata(f"vm-disk-{name}-os", disk),
                       "status": {"phase": "Succeeded", "progress": "100.0%"}}],
        SERVICE: [{"metadata": metadata(f"vm-instance-{name}", {**chart, "apps.cozystack.io/user-service": "true"}),
                   "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}],
        EVENT: [],
    }


def serve_fleet(server: ListServer, vms) -> None:
    """Serves, per namespace, the objects of every VM in `vms` (running, system disk only)."""
    by_namespace: dict[str, dict] = {}
    for index, vm in enumerate(vms):
        kinds = by_namespace.setdefault(vm.team.namespace, {})
        ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        for kind, items in running_vm_objects(vm, gpu_resource=vm.gpu_model.resource_name, ip=ip).items():
            kinds.setdefault(kind, []).extend(items)
    for namespace, kinds in by_namespace.items():
        server.serve(namespace, kinds)


def create_fleet(*, owner, namespaces: int, vms_per_namespace: int, first: int = 0) -> list:
    """Running L40S VMs in teams bench-000…, `vms_per_namespace` each, numbered from `first`;
    returns every VM of those teams, ready for `serve_fleet`."""
    from vms.models import GpuModel, InstanceType, Team, VirtualMachine

    teams = [Team.objects.get_or_create(name=f"bench-{index:03d}")[0] for index in range(namespaces)]
    instance_type = InstanceType.objects.get(name="g1.large")
    gpu_model = GpuModel.objects.get(slug="L40S")
    VirtualMachine.objects.bulk_create([
        VirtualMachine(team=team, owner=owner, name=f"vm-{number:05d}", instance_type=instance_type,
                       gpu_model=gpu_model, gpu_count=instance_type.gpu_count, image="ubuntu", system_disk_gib=50,
                       system_disk_class="replicated", public_ports=[22], state=VirtualMachine.State.RUNNING)
        for team in teams for number in range(first, first + vms_per_namespace)
    ], batch_size=1000)
    return list(VirtualMachine.objects.filter(team__in=teams).select_related("team", "gpu_model").order_by("pk"))
