"""Teams and roles from the identity provider's groups, applied at every sign-in.

Cozystack gives every tenant X four Keycloak groups in the realm `cozy`: tenant-X-view,
tenant-X-use, tenant-X-admin and tenant-X-super-admin. They map to the portal's roles:

    tenant-X-view                      → reader of team X (sees, cannot request or act)
    tenant-X-use                       → member of team X
    tenant-X-admin, tenant-X-super-admin → manager of team X

The approver role and platform administrators come from the group names the settings list.
Memberships that came from the provider follow its groups; those made by hand are kept."""

import re
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_noop as N_

from vms import rights_cache
from vms.access import APPROVE_PERMISSION
from vms.models import Event, Membership, OidcIdentity, Team, team_name_validator
from vms.transitions import event_record

# Keycloak's group mapper may send full paths ("/tenant-x-use"); Cozystack tenant names hold no
# hyphen, so the suffix is unambiguous.
TENANT_GROUP = re.compile(r"/?tenant-(?P<team>[a-z0-9][a-z0-9-]*?)-(?P<suffix>view|use|super-admin|admin)")
ROLE_BY_SUFFIX = {
    "view": Membership.Role.READER,
    "use": Membership.Role.MEMBER,
    "admin": Membership.Role.MANAGER,
    "super-admin": Membership.Role.MANAGER,
}
RANK = {Membership.Role.READER: 0, Membership.Role.MEMBER: 1, Membership.Role.MANAGER: 2}
APPROVERS_GROUP = "Approvers (from the identity provider)"
CREATED_ENABLED = N_("Team %(team)s created from the identity provider's groups")
CREATED_DISABLED = N_("Team %(team)s created from the identity provider's groups, disabled until an admin enables it")


@dataclass(frozen=True)
class GroupPolicy:
    """How groups other than the tenants' grant roles (from the settings)."""

    approver_groups: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset()
    create_teams: bool = False


@dataclass
class SyncReport:
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    teams_created: list[str] = field(default_factory=list)


def roles_from_groups(groups: list[str]) -> dict[str, str]:
    """{team name: role}: the highest role any of the groups gives in each team."""
    roles: dict[str, str] = {}
    for group in groups:
        match = TENANT_GROUP.fullmatch(group.strip())
        if match is None:
            continue
        team, role = match["team"], ROLE_BY_SUFFIX[match["suffix"]]
        if team not in roles or RANK[role] > RANK[roles[team]]:
            roles[team] = role
    return roles


def _bare(group: str) -> str:
    return group.strip().lstrip("/")


def _teams_for(names: set[str], *, policy: GroupPolicy, user) -> dict[str, Team]:
    teams = {team.name: team for team in Team.objects.filter(name__in=names)}
    for name in sorted(names - set(teams)):
        try:
            team_name_validator(name)
        except ValidationError:
            continue  # not a name a namespace can carry: the group is ignored
        team, created = Team.objects.get_or_create(name=name, defaults={"active": policy.create_teams})
        teams[name] = team
        if created:
            event_record(
                kind=Event.Kind.ADMIN,
                actor=user,
                team=team,
                target=f"team {name}",
                message=CREATED_ENABLED if policy.create_teams else CREATED_DISABLED,
                data={"team": name},
            )
    return teams


def _audit(user, team: Team, message: str, **data) -> None:
    event_record(
        kind=Event.Kind.ADMIN,
        actor=user,
        team=team,
        target=f"{user.username} in {team.name}",
        message=message,
        data={"user": user.username, "team": team.name, **data},
    )


@transaction.atomic
def identity_sync(*, user, groups: list[str], policy: GroupPolicy) -> SyncReport:
    """Makes the user's memberships from the provider match `groups`; audits each change."""
    report = SyncReport()
    wanted = roles_from_groups(groups)
    teams = _teams_for(set(wanted), policy=policy, user=user)
    wanted = {name: role for name, role in wanted.items() if name in teams}
    held = {
        m.team.name: m
        for m in Membership.objects.filter(user=user).select_related("team").select_for_update(of=("self",))
    }
    for name, membership in held.items():
        if membership.source != Membership.Source.IDENTITY_PROVIDER:
            continue
        if name not in wanted:
            membership.delete()
            report.left.append(name)
            _audit(user, membership.team, N_("%(user)s left %(team)s: no longer in its identity provider groups"))
        elif membership.role != wanted[name]:
            old = membership.role
            Membership.objects.filter(pk=membership.pk).update(role=wanted[name])
            report.changed.append(name)
            _audit(
                user,
                membership.team,
                N_("%(user)s is now %(role)s of %(team)s (was %(old)s), from the identity provider"),
                role=wanted[name],
                old=old,
            )
    for name, role in sorted(wanted.items()):
        if name in held:
            continue
        Membership.objects.create(user=user, team=teams[name], role=role, source=Membership.Source.IDENTITY_PROVIDER)
        report.joined.append(name)
        _audit(user, teams[name], N_("%(user)s joined %(team)s as %(role)s, from the identity provider"), role=role)
    _sync_platform_roles(user, groups={_bare(group) for group in groups}, policy=policy)
    rights_cache.forget(user)
    return report


def _sync_platform_roles(user, *, groups: set[str], policy: GroupPolicy) -> None:
    if policy.approver_groups:
        approvers = _approvers_group()
        approver = bool(groups & policy.approver_groups)
        if approver != user.groups.filter(pk=approvers.pk).exists():
            (user.groups.add if approver else user.groups.remove)(approvers)
            _audit_platform(user, "approver", approver)
    if policy.admin_groups:
        admin = bool(groups & policy.admin_groups)
        if admin != user.is_superuser or admin != user.is_staff:
            type(user).objects.filter(pk=user.pk).update(is_superuser=admin, is_staff=admin)
            user.is_superuser = user.is_staff = admin
            _audit_platform(user, "platform administrator", admin)


def _approvers_group() -> Group:
    group, created = Group.objects.get_or_create(name=APPROVERS_GROUP)
    if created:
        app_label, codename = APPROVE_PERMISSION.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def _audit_platform(user, role: str, granted: bool) -> None:
    event_record(
        kind=Event.Kind.ADMIN,
        actor=user,
        target=user.username,
        message=N_("%(user)s became %(role)s, from the identity provider")
        if granted
        else N_("%(user)s is no longer %(role)s, from the identity provider"),
        data={"user": user.username, "role": role},
    )


@transaction.atomic
def identity_user(*, issuer: str, subject: str, username: str, email: str, first_name: str, last_name: str):
    """The user linked to (issuer, subject), its details refreshed, or a new one linked to it.
    A new user's username is the provider's, suffixed when a local account already has it."""
    user_model = get_user_model()
    identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    details = {"email": email, "first_name": first_name[:150], "last_name": last_name[:150]}
    if identity is not None:
        user = identity.user
        changed = {key: value for key, value in details.items() if getattr(user, key) != value}
        if changed:
            user_model.objects.filter(pk=user.pk).update(**changed)
            for key, value in changed.items():
                setattr(user, key, value)
        identity.save(update_fields=["last_login_at"])
        return user
    base = (username or subject)[:140]
    candidate, number = base, 1
    while user_model.objects.filter(username=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    # No password given: the account gets an unusable one, so only the provider signs it in.
    user = user_model.objects.create_user(candidate, **details)
    OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    event_record(
        kind=Event.Kind.ADMIN,
        actor=user,
        target=user.username,
        message=N_("Account %(user)s created at its first sign-in through the identity provider"),
        data={"user": user.username},
    )
    return user
