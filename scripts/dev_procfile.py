"""Write what `make run` starts: var/Procfile (for honcho) and var/run.env.

Web, Celery worker and Celery beat always run. Unless CLUSTER_KUBECONFIG points at a real
cluster, the development cluster runs too, with a namespace per team; when Debian's prometheus
is installed, a Prometheus scrapes the development cluster's simulated GPU exporters and the
portal's own metrics (web at /metrics, the worker on its own port)."""

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
DEVCLUSTER_PORT = 8001
EXPORTER_PORT = 8002
PROMETHEUS_PORT = 9090
WORKER_METRICS_PORT = 9809


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
    (VAR / "Procfile").write_text("".join(f"{name}: {command}\n" for name, command in processes.items()))
    (VAR / "run.env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    print(f"make run starts: {', '.join(processes)}")


if __name__ == "__main__":
    main()
