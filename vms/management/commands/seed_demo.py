"""Idempotent demo data for `make run`: teams, one account per role, printed passwords."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from vms.management.database import DatabaseCommand
from vms.models import Membership, Team

DEMO_TEAMS = [
    ("ml-research", "Machine learning research"),
    ("vision", "Computer vision"),
]
# username, password, full name, flags, team memberships
DEMO_USERS = [
    ("alice", "alice-gpu-demo", "Alice Martin", {}, [("ml-research", Membership.Role.MEMBER)]),
    ("carol", "carol-gpu-demo", "Carol Dubois", {}, [("ml-research", Membership.Role.MANAGER),
                                                      ("vision", Membership.Role.MEMBER)]),
    ("bob", "bob-gpu-demo", "Bob Lefèvre", {"approver": True}, []),
    ("admin", "admin-gpu-demo", "Platform Admin", {"is_staff": True, "is_superuser": True}, []),
]
APPROVERS_GROUP = "Approvers"


class Command(DatabaseCommand):
    help = "Create or refresh the demo teams and accounts (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        user_model = get_user_model()
        teams = {}
        for name, display_name in DEMO_TEAMS:
            teams[name], _ = Team.objects.update_or_create(name=name, defaults={"display_name": display_name})
        approvers, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
        approvers.permissions.add(Permission.objects.get(codename="approve_virtualmachine",
                                                         content_type__app_label="vms"))

        rows = []
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

        self.stdout.write(self.style.SUCCESS("Demo accounts (log in at http://127.0.0.1:8000/):"))
        for username, password, role in rows:
            self.stdout.write(f"  {username:<8} {password:<16} {role}")

    @staticmethod
    def _describe(flags, memberships):
        if flags.get("is_superuser"):
            return "platform admin"
        if flags.get("approver"):
            return "approver"
        return ", ".join(f"{role.label.lower()} of {team}" for team, role in memberships)
