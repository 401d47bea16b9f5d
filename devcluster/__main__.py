"""`python -m devcluster --port PORT --kubeconfig PATH`: run the development cluster."""

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
from devcluster.controller import SPEEDS, Controller
from devcluster.exporters import ExporterRegistry, ExporterServer
from devcluster.faults import Faults
from devcluster.store import Store

DEFAULT_GPUS = "H100=4,A100=8,L40S=8"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--advertise-host",
                        help="host name clients reach the servers at, written into the kubeconfig and the file_sd "
                             "targets (default: --host; e.g. the service name in docker compose)")
    parser.add_argument("--port", type=int, required=True, help="Kubernetes API port (0: any free port)")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    parser.add_argument("--gpus", default=DEFAULT_GPUS,
                        help="GPU inventory: MODEL=COUNT,... with L40S/A100/H100 or full resource names")
    parser.add_argument("--speed", choices=sorted(SPEEDS), default="realistic")
    parser.add_argument("--time-scale", type=float, help="multiplies realistic durations (overrides --speed)")
    parser.add_argument("--token", help="admin bearer token (default: random)")
    parser.add_argument("--tenant-token", action="append", default=[], metavar="TOKEN=NS1,NS2",
                        help="a bearer token limited to these namespaces (repeatable)")
    parser.add_argument("--namespaces", default="", help="namespaces to create at start, comma-separated")
    parser.add_argument("--exporter-port", type=int, default=0, help="DCGM exporter listener port (0: any)")
    parser.add_argument("--file-sd", type=Path, help="Prometheus file_sd JSON to keep up to date")
    parser.add_argument("--prometheus-config", type=Path,
                        help="also write a Prometheus configuration that scrapes the --file-sd targets")
    parser.add_argument("--watch-history", type=int, default=5000,
                        help="events kept for watch resumption; older resourceVersions get 410 Expired")
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args(argv)
    if arguments.prometheus_config and not arguments.file_sd:
        parser.error("--prometheus-config needs --file-sd")
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
        for token, namespaces in sorted(tenant_tokens.items(), key=lambda item: sorted(item[1]))]
    lines = ["apiVersion: v1", "kind: Config", "preferences: {}",
             "clusters:", "- name: devcluster", "  cluster:", f"    server: {json.dumps(server_url)}",
             "users:"]
    for user, token, _ in users:
        lines += [f"- name: {json.dumps(user)}", "  user:", f"    token: {json.dumps(token)}"]
    lines.append("contexts:")
    for user, _, namespace in users:
        context_name = "devcluster" if namespace is None else user
        lines += [f"- name: {json.dumps(context_name)}", "  context:", "    cluster: devcluster",
                  f"    user: {json.dumps(user)}"]
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


def write_prometheus_config(path: Path, file_sd: Path) -> None:
    """A scrape job over the simulated guests, labelled like the production configuration."""
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [{"job_name": "dcgm-exporter", "scrape_interval": "15s",
                            "file_sd_configs": [{"files": [str(file_sd.resolve())], "refresh_interval": "5s"}]}],
    }
    # JSON is valid YAML, so Prometheus reads it as is.
    atomic_write(path, json.dumps(config, indent=2) + "\n")


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level.upper(), format="devcluster %(levelname)s %(message)s")
    admin_token = arguments.token or secrets.token_urlsafe(24)
    time_scale = arguments.time_scale if arguments.time_scale is not None else SPEEDS[arguments.speed]

    store = Store(history_size=arguments.watch_history)
    exporter_server = ExporterServer((arguments.host, arguments.exporter_port), None)
    advertised_host = arguments.advertise_host or arguments.host
    registry = ExporterRegistry(host=advertised_host, port=exporter_server.server_address[1],
                                file_sd_path=arguments.file_sd)
    exporter_server.registry = registry
    controller = Controller(store, arguments.gpu_inventory, time_scale=time_scale,
                            on_guests_changed=registry.set_guests)
    faults = Faults()
    api_server = ClusterServer(
        (arguments.host, arguments.port), store=store, controller=controller, faults=faults, exporters=registry,
        admin_token=admin_token, tenant_tokens=arguments.tenant_tokens,
        seed_namespaces=[ns for ns in arguments.namespaces.split(",") if ns],
    )
    api_url = f"http://{advertised_host}:{api_server.server_address[1]}"
    write_kubeconfig(arguments.kubeconfig, api_url, admin_token, arguments.tenant_tokens)
    if arguments.prometheus_config:
        write_prometheus_config(arguments.prometheus_config, arguments.file_sd)

    threads = [threading.Thread(target=server.serve_forever, daemon=True, name=name)
               for server, name in ((api_server, "api"), (exporter_server, "exporters"))]
    for thread in threads:
        thread.start()
    controller.start()

    stopped = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stopped.set())
    print(f"devcluster ready: api={api_url} exporters=http://{registry.address} "
          f"kubeconfig={arguments.kubeconfig} speed={time_scale:g}", flush=True)
    stopped.wait()
    api_server.stopping.set()
    controller.stop()
    for server in (api_server, exporter_server):
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
