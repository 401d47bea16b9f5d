"""`python -m devcluster --port PORT --kubeconfig PATH`: run the development cluster.

`python -m devcluster --controller-only --api-kubeconfig PATH`: run only its controller (and
the simulated DCGM exporters) against the API server of that kubeconfig, e.g. a real
kube-apiserver with the CRDs of ../shared/kube; the control API is then on --control-port."""

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from devcluster.api import ClusterServer
from devcluster.catalogue import parse_gpu_inventory
from devcluster.control import Control, ControlServer
from devcluster.controller import SPEEDS, Controller
from devcluster.exporters import ExporterRegistry, ExporterServer
from devcluster.faults import Faults
from devcluster.ports import StorePort
from devcluster.store import Store

DEFAULT_GPUS = "H100=4,A100=8,L40S=8"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--advertise-host",
        help="host name clients reach the servers at, written into the kubeconfig and the file_sd "
        "targets (default: --host; e.g. the service name in docker compose)",
    )
    parser.add_argument("--port", type=int, help="Kubernetes API port (0: any free port)")
    parser.add_argument("--kubeconfig", type=Path, help="where to write the kubeconfig")
    parser.add_argument(
        "--controller-only",
        action="store_true",
        help="serve no API: run the controller against the API server of --api-kubeconfig",
    )
    parser.add_argument("--api-kubeconfig", type=Path, help="with --controller-only: the API server to work on")
    parser.add_argument(
        "--control-port",
        type=int,
        default=0,
        help="with --controller-only: port of the /_devcluster/ control API (0: any free port)",
    )
    parser.add_argument(
        "--tenant-quota",
        action="append",
        default=[],
        metavar="NS:MODEL=N",
        help="GPU limit of a namespace's tenant-quota, e.g. tenant-a:H100=1 (repeatable; "
        "default: the whole inventory for every tenant-* namespace)",
    )
    parser.add_argument(
        "--gpus", default=DEFAULT_GPUS, help="GPU inventory: MODEL=COUNT,... with L40S/A100/H100 or full resource names"
    )
    parser.add_argument("--speed", choices=sorted(SPEEDS), default="realistic")
    parser.add_argument("--time-scale", type=float, help="multiplies realistic durations (overrides --speed)")
    parser.add_argument("--token", help="admin bearer token (default: random)")
    parser.add_argument(
        "--tenant-token",
        action="append",
        default=[],
        metavar="TOKEN=NS1,NS2",
        help="a bearer token limited to these namespaces (repeatable)",
    )
    parser.add_argument("--namespaces", default="", help="namespaces to create at start, comma-separated")
    parser.add_argument("--exporter-port", type=int, default=0, help="DCGM exporter listener port (0: any)")
    parser.add_argument("--file-sd", type=Path, help="Prometheus file_sd JSON to keep up to date")
    parser.add_argument(
        "--prometheus-config",
        type=Path,
        help="also write a Prometheus configuration that scrapes the --file-sd targets",
    )
    parser.add_argument(
        "--scrape",
        action="append",
        default=[],
        metavar="JOB=HOST:PORT",
        help="a static target that configuration scrapes too, at /metrics (repeatable; `make run` adds the portal's)",
    )
    parser.add_argument(
        "--watch-history",
        type=int,
        default=5000,
        help="events kept for watch resumption; older resourceVersions get 410 Expired",
    )
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args(argv)
    if arguments.prometheus_config and not arguments.file_sd:
        parser.error("--prometheus-config needs --file-sd")
    if any("=" not in target for target in arguments.scrape):
        parser.error("--scrape takes JOB=HOST:PORT")
    if arguments.controller_only and not arguments.api_kubeconfig:
        parser.error("--controller-only needs --api-kubeconfig")
    if not arguments.controller_only and (arguments.port is None or arguments.kubeconfig is None):
        parser.error("--port and --kubeconfig are required (unless --controller-only)")
    arguments.tenant_quotas = {}
    for entry in arguments.tenant_quota:
        namespace, separator, limits = entry.partition(":")
        try:
            if not separator or not namespace:
                raise ValueError("it is not NS:MODEL=N")
            arguments.tenant_quotas.setdefault(namespace, {}).update(parse_gpu_inventory(limits))
        except ValueError as exc:
            parser.error(f"--tenant-quota {entry!r}: {exc}")
    try:
        arguments.gpu_inventory = parse_gpu_inventory(arguments.gpus)
    except ValueError as exc:
        parser.error(str(exc))
    arguments.tenant_tokens = {}
    for entry in arguments.tenant_token:
        token, separator, namespaces = entry.partition("=")
        if not separator or not token or not namespaces:
            parser.error(f"--tenant-token {entry!r} is not TOKEN=NS1,NS2")
        arguments.tenant_tokens[token] = frozenset(filter(None, namespaces.split(",")))
    return arguments


def write_kubeconfig(path: Path, server_url: str, admin_token: str, tenant_tokens: dict) -> None:
    """YAML by hand (JSON-quoted scalars are valid YAML) to keep the server free of dependencies."""
    users = [("devcluster-admin", admin_token, None)] + [
        (f"devcluster-tenant-{sorted(namespaces)[0]}", token, sorted(namespaces)[0])
        for token, namespaces in sorted(tenant_tokens.items(), key=lambda item: sorted(item[1]))
    ]
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "preferences: {}",
        "clusters:",
        "- name: devcluster",
        "  cluster:",
        f"    server: {json.dumps(server_url)}",
        "users:",
    ]
    for user, token, _ in users:
        lines += [f"- name: {json.dumps(user)}", "  user:", f"    token: {json.dumps(token)}"]
    lines.append("contexts:")
    for user, _, namespace in users:
        context_name = "devcluster" if namespace is None else user
        lines += [
            f"- name: {json.dumps(context_name)}",
            "  context:",
            "    cluster: devcluster",
            f"    user: {json.dumps(user)}",
        ]
        if namespace:
            lines.append(f"    namespace: {json.dumps(namespace)}")
    lines.append("current-context: devcluster")
    atomic_write(path, "\n".join(lines) + "\n", mode=0o600)


def atomic_write(path: Path, text: str, *, mode: int | None = None) -> None:
    """Readers (the portal, Prometheus, `make run`'s wait on the file) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    if mode is not None:
        os.chmod(temporary, mode)
    os.replace(temporary, path)


def write_prometheus_config(path: Path, file_sd: Path, scrape: list[str] = ()) -> None:
    """A scrape job over the simulated guests, labelled like the production configuration, and
    one job per `scrape` target (JOB=HOST:PORT)."""
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {
                "job_name": "dcgm-exporter",
                "scrape_interval": "15s",
                "file_sd_configs": [{"files": [str(file_sd.resolve())], "refresh_interval": "5s"}],
            }
        ]
        + [
            {"job_name": job, "static_configs": [{"targets": [address]}]}
            for job, _, address in (target.partition("=") for target in scrape)
        ],
    }
    # JSON is valid YAML, so Prometheus reads it as is.
    atomic_write(path, json.dumps(config, indent=2) + "\n")


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level.upper(), format="devcluster %(levelname)s %(message)s")
    time_scale = arguments.time_scale if arguments.time_scale is not None else SPEEDS[arguments.speed]
    exporter_server = ExporterServer((arguments.host, arguments.exporter_port), None)
    advertised_host = arguments.advertise_host or arguments.host
    registry = ExporterRegistry(
        host=advertised_host, port=exporter_server.server_address[1], file_sd_path=arguments.file_sd
    )
    exporter_server.registry = registry
    if arguments.prometheus_config:
        write_prometheus_config(arguments.prometheus_config, arguments.file_sd, arguments.scrape)
    faults = Faults()
    if arguments.controller_only:
        controller, servers, ready = controller_only(arguments, time_scale, faults, registry)
    else:
        controller, servers, ready = whole_cluster(arguments, time_scale, faults, registry)
    servers.append((exporter_server, "exporters"))

    threads = [threading.Thread(target=server.serve_forever, daemon=True, name=name) for server, name in servers]
    for thread in threads:
        thread.start()
    controller.start()

    stopped = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stopped.set())
    print(f"{ready} exporters=http://{registry.address} speed={time_scale:g}", flush=True)
    stopped.wait()
    for server, _ in servers:
        if isinstance(server, ClusterServer):
            server.stopping.set()
    controller.stop()
    for server, _ in servers:
        server.shutdown()
        server.server_close()
    return 0


def new_controller(port, arguments, time_scale: float, faults: Faults, registry: ExporterRegistry) -> Controller:
    """The controller of either mode, on the given port to an API server."""
    return Controller(
        port,
        arguments.gpu_inventory,
        time_scale=time_scale,
        faults=faults,
        tenant_quotas=arguments.tenant_quotas,
        on_guests_changed=registry.set_guests,
    )


def whole_cluster(arguments, time_scale: float, faults: Faults, registry: ExporterRegistry):
    """The API server and its controller in one process, sharing the store."""
    admin_token = arguments.token or secrets.token_urlsafe(24)
    store = Store(history_size=arguments.watch_history)
    controller = new_controller(StorePort(store), arguments, time_scale, faults, registry)
    api_server = ClusterServer(
        (arguments.host, arguments.port),
        store=store,
        controller=controller,
        faults=faults,
        exporters=registry,
        admin_token=admin_token,
        tenant_tokens=arguments.tenant_tokens,
        seed_namespaces=[ns for ns in arguments.namespaces.split(",") if ns],
    )
    controller.reconcile_infrastructure()
    api_url = f"http://{arguments.advertise_host or arguments.host}:{api_server.server_address[1]}"
    write_kubeconfig(arguments.kubeconfig, api_url, admin_token, arguments.tenant_tokens)
    return controller, [(api_server, "api")], f"devcluster ready: api={api_url} kubeconfig={arguments.kubeconfig}"


def controller_only(arguments, time_scale: float, faults: Faults, registry: ExporterRegistry):
    """The controller alone, on another API server; the control API on its own port."""
    # Imported here on purpose: only this mode needs the `kubernetes` client, and the
    # development cluster's own server stays standard library only.
    from devcluster.kubeport import KubePort

    port = KubePort(arguments.api_kubeconfig)
    controller = new_controller(port, arguments, time_scale, faults, registry)
    control_server = ControlServer(
        (arguments.host, arguments.control_port),
        Control(faults=faults, controller=controller, exporters=registry, own_api_server=False),
    )
    control_url = f"http://{arguments.advertise_host or arguments.host}:{control_server.server_address[1]}"
    ready = f"devcluster controller ready: api={port.api_client.configuration.host} control={control_url}/_devcluster/"
    return controller, [(control_server, "control")], ready


if __name__ == "__main__":
    sys.exit(main())
