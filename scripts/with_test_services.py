"""Run a command with the services the test suite needs, starting what is missing.

PostgreSQL and Redis: the servers at DATABASE_URL / REDIS_URL (default 127.0.0.1) are used
when they answer. Otherwise, as root on Debian, the Debian packages are installed and
throwaway servers are started in a temporary directory on free loopback ports, then stopped.
Chromium, Prometheus, etcd and Node.js (for browser, telemetry, real-API and single sign-on tests)
are installed the same way, and the test OpenID provider's npm packages from their lock file. No
package's daemon is started on installation: the tests start their own on free ports.

    python scripts/with_test_services.py -- pytest
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hikube_portal"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
APT_BINARIES = {
    "chromium": "/usr/bin/chromium",
    "prometheus": "/usr/bin/prometheus",
    "etcd-server": "/usr/bin/etcd",
    "nodejs": "/usr/bin/node",
    "npm": "/usr/bin/npm",
    # Runs the test OpenID provider with its clock behind, so it issues tokens already expired.
    "faketime": "/usr/bin/faketime",
}
# The OpenID provider the SSO tests sign in with (node-oidc-provider), installed from its lock file.
OIDC_PROVIDER_DIR = Path(__file__).resolve().parent.parent / "tests" / "support" / "oidc"
# invoke-rc.d(8) asks this script whether a package may start its service; 101 means no.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def log(message):
    print(f"[test services] {message}", flush=True)


def can_install_packages() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


_apt_updated = False


def apt_install(*packages):
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    log(f"installing Debian packages: {' '.join(packages)}")
    with services_not_started():
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )


@contextlib.contextmanager
def services_not_started():
    """A daemon started by the installation (etcd on 2379, Prometheus on 9090, PostgreSQL on 5432)
    would outlive the tests and compete for CPU with the servers they start themselves."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink()


def reachable(host, port) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, process, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with code {process.returncode}")
        if reachable("127.0.0.1", port):
            return
        time.sleep(0.2)
    sys.exit(f"{what} did not start listening on port {port}")


def ensure_optional_binaries():
    missing = [package for package, binary in APT_BINARIES.items() if not Path(binary).exists()]
    if missing and can_install_packages():
        apt_install(*missing)
    for package in missing:
        if not Path(APT_BINARIES[package]).exists():
            log(
                f"{APT_BINARIES[package]} is missing and cannot be installed here (not root on Debian): "
                f"tests that need {package} will fail or be skipped"
            )


def start_postgres(workdir: Path, processes: list) -> str:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if not can_install_packages():
            sys.exit("PostgreSQL is not reachable at DATABASE_URL and cannot be installed (not root on Debian).")
        apt_install("postgresql")
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    datadir = workdir / "postgres"
    datadir.mkdir()
    shutil.chown(datadir, "postgres")
    # initdb and postgres run as the postgres user, who must be able to enter the directory.
    os.chmod(workdir, 0o755)  # noqa: S103
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            *as_postgres,
            str(bindir / "postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(datadir),
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(process)
    wait_port(port, process, "PostgreSQL")
    log(f"started a throwaway PostgreSQL on 127.0.0.1:{port}")
    return f"postgres://postgres@127.0.0.1:{port}/hikube_portal"


def start_redis(workdir: Path, processes: list) -> str:
    if not shutil.which("redis-server"):
        if not can_install_packages():
            sys.exit("Redis is not reachable at REDIS_URL and cannot be installed (not root on Debian).")
        apt_install("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(process)
    wait_port(port, process, "Redis")
    log(f"started a throwaway Redis on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}/15"


def ensure_test_oidc_provider():
    installed = OIDC_PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lock = OIDC_PROVIDER_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    if not shutil.which("npm"):
        log("npm is missing: the single sign-on tests will fail")
        return
    log("installing the test OpenID provider (npm ci)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OIDC_PROVIDER_DIR, check=True)


def main(argv):
    if "--" not in argv:
        sys.exit(__doc__)
    command = argv[argv.index("--") + 1 :]
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    ensure_optional_binaries()
    ensure_test_oidc_provider()

    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="hikube-test-services-") as tmp:
        workdir = Path(tmp)
        try:
            db = urlsplit(env["DATABASE_URL"])
            if not reachable(db.hostname, db.port or 5432):
                env["DATABASE_URL"] = start_postgres(workdir, processes)
            redis = urlsplit(env["REDIS_URL"])
            if not reachable(redis.hostname, redis.port or 6379):
                env["REDIS_URL"] = start_redis(workdir, processes)
            return subprocess.run(command, env=env).returncode
        finally:
            for process in reversed(processes):
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
                if process.poll() is None:
                    process.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
