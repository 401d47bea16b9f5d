"""Idempotent demo data for `make run`: teams, one account per role, printed passwords, and a
demo fleet with a past (vms.management.demo).

`make run` calls it twice: before anything starts, with --prometheus-data, to write the database
rows and backfill a week of GPU telemetry before Prometheus starts; then with --cluster, before
Celery beat starts, to create the demo VMs' objects on the development cluster."""

import shutil
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from monitoring.dcgm_history import backfill
from vms.cluster.gateway import ClusterError, ClusterGateway
from vms.management import demo
from vms.management.database import DatabaseCommand
from vms.models import Membership, Team

DEMO_TEAMS = [
    ("ml-research", "Machine learning research"),
    ("vision", "Computer vision"),
]
# username, password, full name, flags, team memberships
DEMO_USERS = [
    ("alice", "alice-gpu-demo", "Alice Martin", {}, [("ml-research", Membership.Role.MEMBER)]),
    (
        "carol",
        "carol-gpu-demo",
        "Carol Dubois",
        {},
        [("ml-research", Membership.Role.MANAGER), ("vision", Membership.Role.MEMBER)],
    ),
    ("bob", "bob-gpu-demo", "Bob Lefèvre", {"approver": True}, []),
    ("admin", "admin-gpu-demo", "Platform Admin", {"is_staff": True, "is_superuser": True}, []),
]
APPROVERS_GROUP = "Approvers"
# Written in Prometheus' data directory: the next run backfills only what came after.
BACKFILL_MARK = "demo-backfilled-until"
CLUSTER_WAIT_SECONDS = 120


class Command(DatabaseCommand):
    help = "Create or refresh the demo teams, accounts and fleet (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--prometheus-data",
            type=Path,
            help="Prometheus data directory to backfill a week of GPU telemetry into (needs promtool)",
        )
        parser.add_argument(
            "--cluster",
            action="store_true",
            help="only create the demo VMs' objects on CLUSTER_KUBECONFIG's cluster, once it answers",
        )

    def handle(self, *args, **options):
        if options["cluster"]:
            self._cluster()
            return
        users = self._accounts()
        # On a real cluster (CLUSTER_KUBECONFIG set before `make run`) nobody would create their objects.
        if settings.CLUSTER_KUBECONFIG:
            self.stdout.write("CLUSTER_KUBECONFIG is set: no demo VMs.")
            return
        vms = demo.demo_record(users=users, now=timezone.now())
        self.stdout.write(f"Demo fleet: {', '.join(vm.name for vm in vms)}")
        if options["prometheus_data"]:
            self._backfill(vms, options["prometheus_data"])

    @transaction.atomic
    def _accounts(self) -> dict:
        user_model = get_user_model()
        teams = {}
        for name, display_name in DEMO_TEAMS:
            teams[name], _ = Team.objects.update_or_create(name=name, defaults={"display_name": display_name})
        approvers, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
        approvers.permissions.add(
            Permission.objects.get(codename="approve_virtualmachine", content_type__app_label="vms")
        )

        rows, users = [], {}
        for username, password, full_name, flags, memberships in DEMO_USERS:
            first, last = full_name.split(" ", 1)
            user, _ = user_model.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_staff": flags.get("is_staff", False),
                    "is_superuser": flags.get("is_superuser", False),
                },
            )
            user.set_password(password)
            user.save(update_fields=["password"])
            if flags.get("approver"):
                user.groups.add(approvers)
            for team_name, role in memberships:
                Membership.objects.update_or_create(team=teams[team_name], user=user, defaults={"role": role})
            rows.append((username, password, self._describe(flags, memberships)))
            users[username] = user

        self.stdout.write(self.style.SUCCESS("Demo accounts (log in at http://127.0.0.1:8000/):"))
        for username, password, role in rows:
            self.stdout.write(f"  {username:<8} {password:<16} {role}")
        return users

    def _backfill(self, vms, data_dir: Path):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.stdout.write("No promtool: the demo VMs' charts start empty.")
            return
        mark = data_dir / BACKFILL_MARK
        since = float(mark.read_text()) if mark.exists() else None
        fleet = demo.demo_history(vms, now=time.time(), since=since)
        if fleet is None:
            return
        backfill(fleet.openmetrics_chunks(), data_dir, promtool=promtool)
        mark.write_text(str(fleet.end_grid))
        self.stdout.write(f"Backfilled the demo VMs' GPU telemetry into {data_dir}.")

    def _cluster(self):
        deadline = time.monotonic() + CLUSTER_WAIT_SECONDS
        while True:
            # The development cluster writes a new kubeconfig (new token) when it starts.
            try:
                gateway = ClusterGateway.from_kubeconfig(settings.CLUSTER_KUBECONFIG, timeout=5)
                ready, why = gateway.reachable(timeout=5)
            except ClusterError as error:
                ready, why = False, error.message
            if ready:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"The cluster did not answer within {CLUSTER_WAIT_SECONDS} s: {why}")
            time.sleep(0.5)
        created = demo.demo_cluster_apply(gateway=gateway)
        self.stdout.write(f"Created {created} objects of the demo VMs on the cluster.")

    @staticmethod
    def _describe(flags, memberships):
        if flags.get("is_superuser"):
            return "platform admin"
        if flags.get("approver"):
            return "approver"
        return ", ".join(f"{role.label.lower()} of {team}" for team, role in memberships)
