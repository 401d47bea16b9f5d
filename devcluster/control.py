"""The control API (`/_devcluster/...`, not part of Kubernetes): faults, state, tenant quotas.

The development cluster's own server serves it beside the Kubernetes API; with
`--controller-only`, `ControlServer` serves it alone on --control-port, and refuses the faults
only an API server of our own can give (devcluster.faults.API_SERVER_FAULTS)."""

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devcluster import errors
from devcluster.catalogue import parse_gpu_inventory
from devcluster.faults import API_SERVER_FAULTS

log = logging.getLogger(__name__)


class Control:
    def __init__(self, *, faults, controller, exporters, own_api_server: bool):
        self.faults = faults
        self.controller = controller
        self.exporters = exporters
        self.own_api_server = own_api_server

    def handle(self, method: str, route: str, body) -> dict:
        """Answers one control request (`route` without the /_devcluster/ prefix); raises ApiError."""
        if (method, route) == ("GET", "state"):
            return {
                "faults": self.faults.as_dict(),
                "controller": self.controller.snapshot(),
                "exporters": self.exporters.snapshot(),
            }
        if (method, route) == ("GET", "faults"):
            return self.faults.as_dict()
        if (method, route) == ("POST", "faults"):
            changes = self._object(body)
            if not self.own_api_server:
                refused = sorted(set(changes) & set(API_SERVER_FAULTS))
                if refused:
                    raise errors.bad_request(
                        f"{', '.join(refused)}: only the development cluster's own API server can inject this; "
                        "against a real API server the controller runs alone"
                    )
            self.faults.update(changes)
            self.controller.set_paused(self.faults.paused)
            return self.faults.as_dict()
        if (method, route) == ("POST", "exporter-faults"):
            return self.exporters.set_faults(self._object(body))
        if (method, route) == ("POST", "tenant-quota"):
            request = self._object(body)
            namespace, hard = request.get("namespace"), request.get("hard")
            if not isinstance(namespace, str) or not namespace or not isinstance(hard, str):
                raise errors.bad_request('send {"namespace": "tenant-x", "hard": "H100=1,A100=2"}')
            try:
                limits = parse_gpu_inventory(hard)
            except ValueError as exc:
                raise errors.bad_request(str(exc)) from exc
            self.controller.set_tenant_quota(namespace, limits)
            # Written before answering: the caller reads the quota next.
            self.controller.reconcile_infrastructure()
            return {"namespace": namespace, "hard": self.controller.snapshot()["tenant_quotas"][namespace]}
        raise errors.ApiError(404, "NotFound", f"no control endpoint {method} /_devcluster/{route}")

    @staticmethod
    def _object(body) -> dict:
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise errors.bad_request("send a JSON object")
        return body


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, control: Control):
        super().__init__(address, ControlHandler)
        self.control = control


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ControlServer

    def log_message(self, format, *args):
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            if not self.path.startswith("/_devcluster/"):
                raise errors.ApiError(404, "NotFound", "the control API lives under /_devcluster/")
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as exc:
                raise errors.bad_request(f"the body is not JSON: {exc}") from exc
            code, payload = 200, self.server.control.handle(method, self.path[len("/_devcluster/") :], body)
        except errors.ApiError as exc:
            code, payload = exc.code, exc.status()
        except Exception as exc:
            log.exception("control request %s %s failed", method, self.path)
            code, payload = 500, errors.ApiError(500, "InternalError", str(exc)).status()
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
