"""`manage.py sync_cluster`: run one status sync cycle now and print what it did.

`--ensure-namespaces` first creates the namespace of every team (tenant-<team>) that is
missing: for the development cluster, since on a real cluster Cozystack creates tenants."""

from django.core.management.base import CommandError

from vms.cluster.gateway import ClusterError, gateway
from vms.cluster.sync import sync_cluster_locked
from vms.management.database import DatabaseCommand
from vms.models import Team


class Command(DatabaseCommand):
    help = "Run one status sync cycle against the cluster of the CLUSTER_* settings."

    def add_arguments(self, parser):
        parser.add_argument(
            "--ensure-namespaces",
            action="store_true",
            help="create missing team namespaces first (development cluster only)",
        )

    def handle(self, *args, ensure_namespaces, **options):
        try:
            cluster = gateway()
            if ensure_namespaces:
                for team in Team.objects.order_by("name"):
                    cluster.namespace_ensure(team.namespace)
            report = sync_cluster_locked(gateway=cluster)
        except ClusterError as exc:
            raise CommandError(exc.message) from None
        if report is None:
            raise CommandError("Another sync cycle is running; try again in a moment.")
        self.stdout.write(
            f"{report.namespaces} namespace(s), {report.vms} VM(s): {report.updated} updated, "
            f"{report.events} event(s), {report.transitions} state change(s), {report.enqueued} task(s) "
            f"enqueued again, {report.orphans} orphan(s)"
        )
        for namespace in report.failed_namespaces:
            self.stderr.write(f"could not list {namespace}")
