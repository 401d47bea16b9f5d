"""Time the status sync over a large fleet: `.venv/bin/python benchmarks/sync_benchmark.py`.

Creates a throwaway database (DATABASE_URL's server, default the test settings' PostgreSQL),
fills it with running VMs spread over team namespaces, serves their cluster objects from a
local list server (with each namespace's tenant-quota and the nodes) through the real
kubernetes client over HTTP, and runs sync cycles: the
first sees every VM for the first time (writes status and events), the next ones find nothing
changed (the steady state beat runs every CLUSTER_SYNC_INTERVAL_SECONDS).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=5, help="steady-state cycles to time")
    arguments = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from benchmarks.list_server import ListServer, create_fleet, serve_fleet
    from vms.cluster.gateway import ClusterGateway
    from vms.cluster.sync import sync_cluster

    settings.DATABASES["default"]["TEST"]["NAME"] = "hikube_sync_benchmark"
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.contrib.auth import get_user_model

        owner = get_user_model().objects.create_user("benchmark")
        started = time.perf_counter()
        vms = create_fleet(
            owner=owner,
            namespaces=arguments.namespaces,
            vms_per_namespace=max(1, arguments.vms // arguments.namespaces),
        )
        print(
            f"fleet: {len(vms)} VMs in {arguments.namespaces} namespaces "
            f"(database filled in {time.perf_counter() - started:.1f} s)"
        )
        with ListServer() as server, tempfile.TemporaryDirectory() as workdir:
            serve_fleet(server, vms)
            gateway = ClusterGateway.from_kubeconfig(
                str(server.write_kubeconfig(Path(workdir) / "kubeconfig")), timeout=60
            )
            started = time.perf_counter()
            first = sync_cluster(gateway=gateway)
            print(
                f"first cycle: {time.perf_counter() - started:.2f} s "
                f"({first.updated} VMs updated, {first.events} events)"
            )
            timings = []
            for _ in range(arguments.cycles):
                gateway.calls.clear()
                reset_queries()
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    report = sync_cluster(gateway=gateway)
                    timings.append(time.perf_counter() - started)
            best, mean = min(timings), sum(timings) / len(timings)
            print(
                f"steady cycle: best {best:.2f} s, mean {mean:.2f} s over {len(timings)} cycles; "
                f"{mean / report.vms * 1e6:.0f} µs per VM"
            )
            namespaced = [plural for (_, plural) in gateway.calls if plural != "nodes"]
            print(
                f"per cycle: {sum(gateway.calls.values())} LIST calls "
                f"({arguments.namespaces} namespaces × {len(namespaced)} kinds, "
                f"{gateway.calls[('list', 'nodes')]} of nodes), "
                f"{sum(v for (verb, _), v in gateway.calls.items() if verb == 'get')} GET, "
                f"{len(queries)} SQL queries"
            )
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
