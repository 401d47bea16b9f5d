"""Write what `make run` starts: var/Procfile (for honcho) and var/run.env.

Web, Celery worker and Celery beat always run. Unless CLUSTER_KUBECONFIG points at a real
cluster, the development cluster runs too, with a namespace per team; when Debian's prometheus
is installed, a Prometheus scrapes the development cluster's simulated GPU exporters and the
portal's own metrics (web at /metrics, the worker on its own port). With SSO=1, the test OpenID
provider (tests/support/oidc/) runs too and the portal signs people in through it; the demo's
local accounts stay, as break-glass accounts."""

import json
import os
import shutil
import sys
from pathlib import Path

# Run as a script: its folder, with with_test_services.py, is on the path.
from with_test_services import OIDC_PROVIDER_DIR, ensure_test_oidc_provider

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
DEVCLUSTER_PORT = 8001
EXPORTER_PORT = 8002
PROMETHEUS_PORT = 9090
WORKER_METRICS_PORT = 9809
OIDC_PORT = 9400
# The provider's people (any password works on its login page) and their Keycloak-style groups.
SSO_ACCOUNTS = {
    "ada": {"name": "Ada Lovelace", "email": "ada@example.org", "groups": ["tenant-ml-research-use"]},
    "grace": {
        "name": "Grace Hopper",
        "email": "grace@example.org",
        "groups": ["tenant-ml-research-admin", "tenant-vision-use", "gpu-approvers"],
    },
    "vera": {"name": "Vera Rubin", "email": "vera@example.org", "groups": ["tenant-vision-view"]},
}
# Known to anyone reading this file: the provider and the portal share it on loopback only.
SSO_SECRET = "make-run-sso-secret"  # noqa: S105


def team_namespaces() -> list[str]:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hikube_portal.settings")
    import django

    django.setup()
    from vms.models import Team

    return [team.namespace for team in Team.objects.order_by("name")]


def main():
    bin_dir = Path(sys.executable).parent
    processes = {
        "web": f"{bin_dir}/python manage.py runserver 127.0.0.1:8000",
        # Its pool children share their metrics through files, and it answers scrapes itself.
        "worker": f"PROMETHEUS_MULTIPROC_DIR={VAR / 'metrics' / 'worker'} METRICS_WORKER_PORT={WORKER_METRICS_PORT}"
        f" {bin_dir}/celery -A hikube_portal worker --loglevel=INFO --concurrency=2",
        "beat": f"{bin_dir}/celery -A hikube_portal beat --loglevel=INFO --schedule var/celerybeat-schedule",
    }
    env = {"DEBUG": "1"}
    if not os.environ.get("CLUSTER_KUBECONFIG"):
        cluster_dir = VAR / "devcluster"
        cluster_dir.mkdir(parents=True, exist_ok=True)
        kubeconfig = cluster_dir / "kubeconfig"
        processes["devcluster"] = (
            f"{bin_dir}/python -m devcluster --port {DEVCLUSTER_PORT} --exporter-port {EXPORTER_PORT}"
            f" --kubeconfig {kubeconfig} --namespaces={','.join(team_namespaces())} --speed realistic"
            f" --gpus H100=8,A100=8,L40S=8 --file-sd {cluster_dir / 'dcgm-file-sd.json'}"
            f" --prometheus-config {cluster_dir / 'prometheus.yml'}"
            f" --scrape portal=127.0.0.1:8000 --scrape portal-worker=127.0.0.1:{WORKER_METRICS_PORT}"
        )
        env["CLUSTER_KUBECONFIG"] = str(kubeconfig)
        env["CLUSTER_CREATE_NAMESPACES"] = "1"
        # The demo VMs' objects exist before the status sync first looks: a running or stopped
        # VM found without them would be called gone from the cluster.
        beat = processes["beat"]
        processes["beat"] = f"sh -c '{bin_dir}/python manage.py seed_demo --cluster && exec {beat}'"
        prometheus = shutil.which("prometheus")
        if prometheus and not os.environ.get("PROMETHEUS_URL"):
            # Started once the development cluster has written the configuration it reads.
            processes["prometheus"] = (
                f"sh -c 'while [ ! -s {cluster_dir / 'prometheus.yml'} ]; do sleep 0.5; done; exec {prometheus}"
                f" --config.file={cluster_dir / 'prometheus.yml'} --storage.tsdb.path={VAR / 'prometheus'}"
                f" --web.listen-address=127.0.0.1:{PROMETHEUS_PORT}'"
            )
            env["PROMETHEUS_URL"] = f"http://127.0.0.1:{PROMETHEUS_PORT}"
    if os.environ.get("SSO") == "1":
        processes["oidc"], sso_env = sso()
        env.update(sso_env)
    (VAR / "Procfile").write_text("".join(f"{name}: {command}\n" for name, command in processes.items()))
    (VAR / "run.env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    print(f"make run starts: {', '.join(processes)}")


def sso() -> tuple[str, dict]:
    """The test OpenID provider's process, and the portal's settings to sign in through it."""
    ensure_test_oidc_provider()
    accounts = VAR / "oidc-accounts.json"
    accounts.write_text(json.dumps(SSO_ACCOUNTS, indent=2))
    portal = "http://127.0.0.1:8000"
    client = {
        "client_id": "portal",
        "client_secret": SSO_SECRET,
        "redirect_uris": [f"{portal}/oidc/callback/"],
        "post_logout_redirect_uris": [f"{portal}/accounts/login/"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    clients = VAR / "oidc-clients.json"
    clients.write_text(json.dumps([client], indent=2))
    command = (
        f"sh -c 'cd {OIDC_PROVIDER_DIR} && PORT={OIDC_PORT} ACCOUNTS_FILE={accounts} CLIENTS_FILE={clients}"
        " exec node provider.mjs'"
    )
    return command, {
        "OIDC_PROVIDER_URL": f"http://127.0.0.1:{OIDC_PORT}",
        "OIDC_CLIENT_ID": "portal",
        "OIDC_CLIENT_SECRET": SSO_SECRET,
        "OIDC_APPROVER_GROUPS": "gpu-approvers",
        "OIDC_CREATE_TEAMS": "1",
        "LOCAL_LOGIN": "1",
    }


if __name__ == "__main__":
    main()
