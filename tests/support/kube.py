"""A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver and
kube-controller-manager, with the Cozystack, KubeVirt and CDI CRDs installed.

    reason = unavailable()                      # None, or why this machine cannot run one
    skip_unless_available()                     # at the top of a test module: skip it, with that reason
    with KubeControlPlane(tmp_path) as cluster:
        cluster.admin_kubeconfig                # Path: token auth (system:masters), CA data inline
        cluster.tenant_kubeconfig("ns-1", "ns-2")  # Path: a user the Role TENANT_ROLE binds in those namespaces only
        cluster.api_client()                    # kubernetes.client.ApiClient for the admin ...
        cluster.api_client(path)                # ... or for any kubeconfig
        with cluster.namespace() as name:       # a fresh namespace, deleted (not awaited) afterwards
            ...
        cluster.url, cluster.startup_seconds

The binaries and CRDs come from a kit (see its README.md): `<repository>/../shared/kube` unless
the test-only variable HIKUBE_KUBE_DIR names another directory. The xz-compressed binaries are
decompressed once into `$XDG_CACHE_HOME/hikube-portal/kube/<sha256 prefix>/` (default
`~/.cache`), checked against the kit's SHA256SUMS, and reused while their checksum still holds.
etcd is Debian's `etcd-server` (`make test` installs it as root); every server gets its own free
ports, so an etcd daemon the package may have started on 2379 is never used.

A bare API server runs no KubeVirt, CDI or Cozystack controller: objects keep the status their
writers give them, and `subresources.kubevirt.io` is not served.
"""

import base64
import contextlib
import hashlib
import itertools
import lzma
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.support.processes import Started, free_port, stop

REPOSITORY = Path(__file__).resolve().parents[2]
KIT_VARIABLE = "HIKUBE_KUBE_DIR"
BINARIES = ("kube-apiserver", "kube-controller-manager")
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "resourcequota-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)
ADMIN_USER = "hikube-admin"
TENANT_USERS = ("hikube-portal", "hikube-portal-other")
TENANT_ROLE = "hikube-portal"
# What the portal does in a tenant namespace, and nothing else: it writes only the apps objects and
# KubeVirt's power subresources, and reads what the charts and KubeVirt render for them.
TENANT_RULES = [
    {
        "apiGroups": ["apps.cozystack.io"],
        "resources": ["vminstances", "vmdisks", "virtualmachines"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {
        "apiGroups": ["kubevirt.io"],
        "resources": ["virtualmachines", "virtualmachineinstances"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["subresources.kubevirt.io"],
        "resources": ["virtualmachines/start", "virtualmachines/stop", "virtualmachines/restart"],
        "verbs": ["update"],
    },
    {"apiGroups": ["cdi.kubevirt.io"], "resources": ["datavolumes"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["services", "events", "pods", "resourcequotas"],
        "verbs": ["get", "list", "watch"],
    },
]


def kit_directory() -> Path:
    return Path(os.environ.get(KIT_VARIABLE) or REPOSITORY.parent / "shared" / "kube")


def unavailable() -> str | None:
    """Why no control plane can start here, with how to enable it; None when one can."""
    kit = kit_directory()
    missing = [
        name for name in ("SHA256SUMS", "crds", *(f"{binary}.xz" for binary in BINARIES)) if not (kit / name).exists()
    ]
    if missing:
        return (
            f"no Kubernetes kit at {kit} (missing {', '.join(missing)}): set {KIT_VARIABLE} to a directory "
            f"with kube-apiserver.xz, kube-controller-manager.xz, SHA256SUMS and crds/"
        )
    for tool, package in ((ETCD, "etcd-server"), (OPENSSL, "openssl")):
        if not Path(tool).exists():
            return f"{tool} is missing: install Debian's {package} package (`make test` does it as root)"
    return None


def skip_unless_available() -> None:
    """Skips the calling test module (or fixture) when no control plane can start here. Every
    module of the tier calls this one line, so pytest's summary folds their skips into one."""
    reason = unavailable()
    if reason:
        pytest.skip(f"real-API tier skipped: {reason}", allow_module_level=True)


def cache_directory() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hikube-portal" / "kube"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def binaries(kit: Path, cache: Path) -> dict[str, Path]:
    """The kit's binaries, decompressed into the cache unless a copy with the right checksum is there."""
    expected = {}
    for line in (kit / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            checksum, name = line.split()
            expected[name.lstrip("*")] = checksum
    paths = {}
    for name in BINARIES:
        checksum = expected[name]
        target = cache / checksum[:16] / name
        if not (target.exists() and _sha256_of(target) == checksum):
            target.parent.mkdir(parents=True, exist_ok=True)
            # Decompressed beside the target and renamed: a concurrent test session never runs half a file.
            with (
                tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{name}-", delete=False) as partial,
                lzma.open(kit / f"{name}.xz") as source,
            ):
                digest = hashlib.sha256()
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    partial.write(chunk)
            if digest.hexdigest() != checksum:
                os.unlink(partial.name)
                raise RuntimeError(f"{kit / name}.xz does not decompress to the checksum in SHA256SUMS")
            os.chmod(partial.name, 0o755)  # noqa: S103 (executables are read and run by anyone)
            os.replace(partial.name, target)
        paths[name] = target
    return paths


def _openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *arguments], cwd=cwd, check=True, capture_output=True)


def _kubeconfig(path: Path, *, server: str, ca: bytes, user: str, token: str, namespace: str | None = None) -> Path:
    context = {"cluster": "hikube-test", "user": user}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "hikube-test",
                        "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()},
                    }
                ],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": user, "context": context}],
                "current-context": user,
            }
        )
    )
    path.chmod(0o600)
    return path


class KubeControlPlane(Started):
    def __init__(self, workdir: Path, *, kit: Path | None = None, cache: Path | None = None):
        self.workdir = Path(workdir)
        self.kit = Path(kit) if kit else kit_directory()
        self.cache = Path(cache) if cache else cache_directory()
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.admin_token = secrets.token_hex(16)
        self.tenant_tokens = {user: secrets.token_hex(16) for user in TENANT_USERS}
        self.ca = b""
        self.startup_seconds = 0.0
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self._kubeconfigs = itertools.count(1)
        self._namespaces = itertools.count(1)

    # -- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        paths = binaries(self.kit, self.cache)
        self._write_identities()
        etcd_url = self._start_etcd()
        self._api_server_arguments = [
            str(paths["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--tls-cert-file=serving.crt",
            "--tls-private-key-file=serving.key",
            "--token-auth-file=tokens.csv",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            "--service-account-key-file=service-account.pub",
            "--service-account-signing-key-file=service-account.key",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
        ]
        self._start("kube-apiserver", self._api_server_arguments)
        self._wait_until_ready()
        self._install_crds()
        # Started once the CRDs are served: the garbage collector and the quota controller discover
        # resources at start-up, and would otherwise see the custom kinds only 30 s later.
        self._start(
            "kube-controller-manager",
            [
                str(paths["kube-controller-manager"]),
                f"--kubeconfig={self.admin_kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--secure-port=0",
                "--service-account-private-key-file=service-account.key",
                "--root-ca-file=serving.crt",
            ],
        )
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        # In the reverse order of their start: each server outlives its clients.
        for _, process in reversed(self.processes):
            stop(process)
        self.processes.clear()

    @contextlib.contextmanager
    def api_server_down(self):
        """The API server down for the duration of the block, as after a crash; etcd
        and the controller manager keep running, and the server comes back on the same port with
        everything etcd holds."""
        index = next(i for i, (name, _) in enumerate(self.processes) if name == "kube-apiserver")
        # Killed, as in a crash: a graceful stop drains requests for several seconds.
        process = self.processes[index][1]
        process.kill()
        process.wait(timeout=10)
        try:
            yield
        finally:
            self._start("kube-apiserver", self._api_server_arguments)
            # Back in its place, so that stop() still stops the servers in the reverse order of their start.
            self.processes[index] = self.processes.pop()
            self._wait_until_ready()

    def _write_identities(self) -> None:
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            "serving.key",
            "-out",
            "serving.crt",
            cwd=self.workdir,
        )
        _openssl(
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "service-account.key",
            cwd=self.workdir,
        )
        _openssl("pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub", cwd=self.workdir)
        self.ca = (self.workdir / "serving.crt").read_bytes()
        lines = [f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"']
        lines += [f'{token},{user},{user},"hikube:tenants"' for user, token in self.tenant_tokens.items()]
        (self.workdir / "tokens.csv").write_text("\n".join(lines) + "\n")
        _kubeconfig(self.admin_kubeconfig, server=self.url, ca=self.ca, user=ADMIN_USER, token=self.admin_token)

    def _start(self, name: str, arguments: list[str]) -> subprocess.Popen:
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(arguments, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))
        return process

    def _start_etcd(self) -> str:
        client_url, peer_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        process = self._start(
            "etcd",
            [
                ETCD,
                "--name=test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                # A lone member elects itself at once; its data is thrown away with the session, so no fsync.
                "--heartbeat-interval=10",
                "--election-timeout=50",
                "--unsafe-no-fsync",
            ],
        )

        # Awaited before the API server starts, whose etcd client backs off for a second when its
        # first connections fail.
        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=1) as response:
                return b'"health":"true"' in response.read()

        self._poll(f"etcd on {client_url}", process, healthy)
        return client_url

    def _poll(self, what: str, process: subprocess.Popen, ready, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}: {self._log_tail(process)}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                if ready():
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{what} was not ready within {timeout} s: {self._log_tail(process)}")

    def _log_tail(self, process: subprocess.Popen) -> str:
        name = next(name for name, started in self.processes if started is process)
        lines = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
        return f"last lines of {self.workdir / name}.log:\n" + "\n".join(lines[-15:])

    def _wait_until_ready(self) -> None:
        context = ssl.create_default_context(cadata=self.ca.decode())
        request = urllib.request.Request(f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"})

        def ready() -> bool:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return response.read() == b"ok"

        process = dict(self.processes)["kube-apiserver"]
        self._poll(f"kube-apiserver on {self.url}", process, ready)

    def _install_crds(self) -> None:
        with contextlib.closing(self.api_client()) as api_client:
            extensions = client.ApiextensionsV1Api(api_client)
            names = []
            for path in sorted((self.kit / "crds").glob("*.yaml")):
                for crd in yaml.safe_load_all(path.read_text()):
                    if crd:
                        extensions.create_custom_resource_definition(crd)
                        names.append(crd["metadata"]["name"])

            def established() -> bool:
                for name in names:
                    conditions = extensions.read_custom_resource_definition(name).status.conditions or []
                    if not any(c.type == "Established" and c.status == "True" for c in conditions):
                        return False
                return True

            _, process = self.processes[-1]
            self._poll("the CRDs", process, established, timeout=30)

    # -- what tests use -----------------------------------------------------------------------

    def api_client(self, kubeconfig: Path | None = None) -> client.ApiClient:
        return config.new_client_from_config(str(kubeconfig or self.admin_kubeconfig))

    def tenant_kubeconfig(self, *namespaces: str, user: str = TENANT_USERS[0]) -> Path:
        """A kubeconfig for `user`, whom a Role with TENANT_RULES and its RoleBinding let in `namespaces`
        (the first is the context's namespace); the user has no other permission in this cluster."""
        with contextlib.closing(self.api_client()) as api_client:
            rbac = client.RbacAuthorizationV1Api(api_client)
            for namespace in namespaces:
                try:
                    rbac.create_namespaced_role(namespace, {"metadata": {"name": TENANT_ROLE}, "rules": TENANT_RULES})
                except ApiException as exc:
                    if exc.status != 409:  # granted to another tenant user already
                        raise
                rbac.create_namespaced_role_binding(
                    namespace,
                    {
                        "metadata": {"name": f"{TENANT_ROLE}-{user}"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TENANT_ROLE},
                        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                    },
                )
        path = self.workdir / f"tenant-{next(self._kubeconfigs)}.kubeconfig"
        return _kubeconfig(
            path,
            server=self.url,
            ca=self.ca,
            user=user,
            token=self.tenant_tokens[user],
            namespace=namespaces[0] if namespaces else None,
        )

    @contextlib.contextmanager
    def namespace(self, prefix: str = "test"):
        """Yields the name of a new namespace; deletes it afterwards without waiting for the
        namespace controller to empty it."""
        name = f"{prefix}-{next(self._namespaces)}"
        with contextlib.closing(self.api_client()) as api_client:
            core = client.CoreV1Api(api_client)
            core.create_namespace({"metadata": {"name": name}})
            try:
                yield name
            finally:
                try:
                    core.delete_namespace(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
