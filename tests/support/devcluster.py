"""Run the development cluster (`python -m devcluster`) as a subprocess for tests and tools.

    with DevCluster(tmp_path, gpus="H100=2", tenant_tokens={"tok-a": ["tenant-a"]},
                    namespaces=["tenant-a"]) as cluster:
        api = cluster.api_client()              # kubernetes.client.ApiClient with the admin token
        api = cluster.api_client("tok-a")       # ... or with a tenant token
        cluster.kubeconfig                      # Path of the kubeconfig it wrote (admin context current)
        cluster.url, cluster.token              # http://127.0.0.1:<port>, the admin bearer token
        cluster.exporter_url                    # http://127.0.0.1:<port>; metrics at /metrics/<ns>/<vm>
        cluster.file_sd                         # Path of the Prometheus file_sd JSON it keeps current
        cluster.faults(error_rate=0.5)          # POST /_devcluster/faults (returns the current faults)
        cluster.exporter_faults("tenant-a", "vm1", drop_dcp=True)
        cluster.state()                         # GET /_devcluster/state
        cluster.tenant_quota("tenant-a", "H100=1")  # the GPU limits of that namespace's tenant-quota
        cluster.reset()                         # empty store, no faults, seed namespaces back

`speed` is "fast" (tests, phases take milliseconds) or "realistic"; `time_scale` overrides it.

Only its controller, against another API server (`python -m devcluster --controller-only`):

    with DevController(tmp_path, kubeconfig=control_plane.admin_kubeconfig,
                       tenant_quotas={"tenant-1": "H100=1"}) as controller:
        controller.faults(paused=True)          # the controller's switches; API-server faults are refused (400)
        controller.state()
        controller.tenant_quota("tenant-1", "H100=2")
"""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.processes import Started, free_port, stop, wait_for_http

REPOSITORY = Path(__file__).resolve().parents[2]


class DevCluster(Started):
    def __init__(
        self,
        workdir: Path,
        *,
        gpus: str = "H100=4,A100=8,L40S=8",
        speed: str = "fast",
        time_scale: float | None = None,
        namespaces: list[str] | tuple[str, ...] = ("tenant-a",),
        tenant_tokens: dict[str, list[str]] | None = None,
        token: str = "devcluster-admin-token",
        watch_history: int | None = None,
        tenant_quotas: dict[str, str] | None = None,
    ):
        self.workdir = Path(workdir)
        self.kubeconfig = self.workdir / "devcluster-kubeconfig.yaml"
        self.file_sd = self.workdir / "devcluster-file-sd.json"
        self.port = free_port()
        self.exporter_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.exporter_url = f"http://127.0.0.1:{self.exporter_port}"
        self.token = token
        self.arguments = [
            sys.executable,
            "-m",
            "devcluster",
            "--port",
            str(self.port),
            "--kubeconfig",
            str(self.kubeconfig),
            "--gpus",
            gpus,
            "--speed",
            speed,
            "--token",
            token,
            "--namespaces",
            ",".join(namespaces),
            "--exporter-port",
            str(self.exporter_port),
            "--file-sd",
            str(self.file_sd),
        ]
        if time_scale is not None:
            self.arguments += ["--time-scale", str(time_scale)]
        if watch_history is not None:
            self.arguments += ["--watch-history", str(watch_history)]
        for tenant_token, tenant_namespaces in (tenant_tokens or {}).items():
            self.arguments += ["--tenant-token", f"{tenant_token}={','.join(tenant_namespaces)}"]
        for namespace, limits in (tenant_quotas or {}).items():
            self.arguments += ["--tenant-quota", f"{namespace}:{limits}"]
        self.process = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "devcluster.log").open("wb") as log:
            self.process = subprocess.Popen(self.arguments, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=log)
        wait_for_http(f"{self.url}/version", timeout=30, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def api_client(self, token: str | None = None):
        """A `kubernetes` ApiClient built from the kubeconfig, optionally with another bearer token."""
        from kubernetes import config

        client = config.new_client_from_config(str(self.kubeconfig))
        if token is not None:
            # The kubeconfig loader re-reads the token before each request unless its hook is removed.
            client.configuration.refresh_api_key_hook = None
            client.configuration.api_key = {"authorization": f"Bearer {token}"}
        return client

    def control(self, method: str, path: str, payload: dict | None = None) -> dict:
        return control_request(self.url, method, path, payload, token=self.token)

    def faults(self, **faults) -> dict:
        return self.control("POST", "faults", faults)

    def exporter_faults(self, namespace: str, vm: str, **faults) -> dict:
        return self.control("POST", "exporter-faults", {"namespace": namespace, "vm": vm, **faults})

    def state(self) -> dict:
        return self.control("GET", "state")

    def tenant_quota(self, namespace: str, limits: str) -> dict:
        return self.control("POST", "tenant-quota", {"namespace": namespace, "hard": limits})

    def reset(self) -> None:
        self.control("POST", "reset", {})


class DevController(Started):
    def __init__(
        self,
        workdir: Path,
        *,
        kubeconfig: Path,
        gpus: str = "H100=4,A100=8,L40S=8",
        speed: str = "fast",
        tenant_quotas: dict[str, str] | None = None,
    ):
        self.workdir = Path(workdir)
        self.file_sd = self.workdir / "devcontroller-file-sd.json"
        self.control_port = free_port()
        self.exporter_port = free_port()
        self.url = f"http://127.0.0.1:{self.control_port}"
        self.exporter_url = f"http://127.0.0.1:{self.exporter_port}"
        self.log = self.workdir / "devcontroller.log"
        self.arguments = [
            sys.executable,
            "-m",
            "devcluster",
            "--controller-only",
            "--api-kubeconfig",
            str(kubeconfig),
            "--gpus",
            gpus,
            "--speed",
            speed,
            "--control-port",
            str(self.control_port),
            "--exporter-port",
            str(self.exporter_port),
            "--file-sd",
            str(self.file_sd),
        ]
        for namespace, limits in (tenant_quotas or {}).items():
            self.arguments += ["--tenant-quota", f"{namespace}:{limits}"]
        self.process = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.arguments, cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=log)
        wait_for_http(f"{self.url}/_devcluster/state", timeout=30, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def control(self, method: str, path: str, payload: dict | None = None) -> dict:
        return control_request(self.url, method, path, payload)

    def faults(self, **faults) -> dict:
        return self.control("POST", "faults", faults)

    def state(self) -> dict:
        return self.control("GET", "state")

    def tenant_quota(self, namespace: str, limits: str) -> dict:
        return self.control("POST", "tenant-quota", {"namespace": namespace, "hard": limits})


def control_request(url: str, method: str, path: str, payload: dict | None, *, token: str | None = None) -> dict:
    """A request to the /_devcluster/ control API; an answer of 400 or more raises urllib's HTTPError."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{url}/_devcluster/{path}",
        method=method,
        headers=headers,
        data=json.dumps(payload).encode() if payload is not None else None,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
