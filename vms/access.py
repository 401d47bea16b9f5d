"""Who may see and act on what: every rule in one place, the fleet pages' and the approvers' too.
Every view goes through these helpers: a stranger to a VM gets 404 (its existence is not
revealed); a team member without the right to act, or a user without the role a page needs,
gets 403."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from vms import rights_cache
from vms.catalogue.loading import with_catalogue
from vms.models import Membership, Team, VirtualMachine

APPROVE_PERMISSION = "vms.approve_virtualmachine"


def memberships(user) -> list[Membership]:
    """The user's memberships with their teams, by team name (vms.rights_cache keeps them; shared
    rows: read them, never change them)."""
    if not user.pk:
        return []
    rows = rights_cache.remembered(user, rights_cache.MEMBERSHIPS)
    if rows is None:
        rows = rights_cache.remember(
            user,
            rights_cache.MEMBERSHIPS,
            list(Membership.objects.filter(user=user).select_related("team").order_by("team__name")),
        )
    return rows


def team_roles(user) -> dict[int, str]:
    """{team id: role} of the user's teams: every rule below asks it."""
    return {membership.team_id: membership.role for membership in memberships(user)}


def _teams_with_role(user, roles) -> list[int]:
    return [team_id for team_id, role in team_roles(user).items() if role in roles]


ACTING_ROLES = (Membership.Role.MEMBER, Membership.Role.MANAGER)


def requestable_teams(user) -> list[Team]:
    """Teams the user may request VMs for, by name: enabled ones where they are more than a reader."""
    if user.is_superuser:
        return list(Team.objects.filter(active=True))
    return [
        membership.team
        for membership in memberships(user)
        if membership.team.active and membership.role in ACTING_ROLES
    ]


def listable_teams(user) -> list[Team]:
    """Teams whose VMs the user may list (the VM list's team filter), by name: every team for
    those who read every VM, their own for the others."""
    if user.is_superuser or can_approve(user):
        return list(Team.objects.all())
    return [membership.team for membership in memberships(user)]


def _visible(user) -> Q:
    """The VMs `user` may see, as a filter."""
    # Approvers read any VM: deciding needs the request's page, timeline and the team's other VMs.
    if user.is_superuser or can_approve(user):
        return Q()
    # The ids, not a join: the join made PostgreSQL weigh every order of the list's tables.
    return Q(team_id__in=list(team_roles(user)))


def visible_vms(user) -> QuerySet[VirtualMachine]:
    return VirtualMachine.objects.filter(_visible(user))


def is_team_member(user, team_id: int) -> bool:
    return team_id in team_roles(user)


@dataclass(frozen=True)
class VmRights:
    manage: bool  # act on it: start, stop, resize, delete, extend its lease
    use: bool  # read what opens it: its SSH details and manifests


def vm_rights(user, vm: VirtualMachine) -> VmRights:
    """What `user`, who may see `vm`, may do with it. Admins everything; the team's
    managers act on every VM and its members on their own; readers, even one who once requested
    the VM, only read, and not what opens it."""
    if user.is_superuser:
        return VmRights(manage=True, use=True)
    role = team_roles(user).get(vm.team_id)
    return VmRights(
        manage=role == Membership.Role.MANAGER or (role == Membership.Role.MEMBER and vm.owner_id == user.pk),
        use=role != Membership.Role.READER,
    )


def can_manage_vm(user, vm: VirtualMachine) -> bool:
    return vm_rights(user, vm).manage


def page_vms() -> QuerySet[VirtualMachine]:
    """VMs as their pages read them: with their team and owner, and the catalogue's rows."""
    return with_catalogue(VirtualMachine.objects.select_related("team", "owner"))


def vm_for_user(
    user, vm_id, *, manage: bool = False, use: bool = False, queryset: QuerySet | None = None
) -> VirtualMachine:
    """The VM `vm_id` if `user` may see it (404 otherwise); with manage=True, if they may act on
    it (403 otherwise); with use=True, if they may read what a reader may not, its SSH details
    and manifests (403 otherwise)."""
    queryset = queryset if queryset is not None else page_vms()
    try:
        vm = queryset.filter(_visible(user)).get(pk=vm_id)
    except (VirtualMachine.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    if manage or use:
        rights = vm_rights(user, vm)
        if (manage and not rights.manage) or (use and not rights.use):
            raise PermissionDenied
    return vm


def can_approve(user) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    approver = rights_cache.remembered(user, rights_cache.APPROVER)
    if approver is None:
        approver = rights_cache.remember(user, rights_cache.APPROVER, user.has_perm(APPROVE_PERMISSION))
    return approver


def is_own_request(user, *, vm: VirtualMachine, change=None) -> bool:
    """Whether `user` asked for what an approver would decide: the VM's owner (its requester), or
    the person who asked for the change. Separation of duties: such a user may not decide it."""
    return user is not None and (user.pk == vm.owner_id or (change is not None and user.pk == change.requested_by_id))


def approver_required(user) -> None:
    if not can_approve(user):
        raise PermissionDenied


def managed_teams(user) -> list[Team]:
    """Teams whose fleet figures the user may see, by name: all for admins, their own for managers."""
    if user.is_superuser:
        return list(Team.objects.order_by("name"))
    return [membership.team for membership in memberships(user) if membership.role == Membership.Role.MANAGER]


def managed_vms(user) -> QuerySet[VirtualMachine]:
    """The VMs of `managed_teams`: every VM for admins, without reading the teams."""
    if user.is_superuser:
        return VirtualMachine.objects.all()
    return VirtualMachine.objects.filter(team_id__in=_teams_with_role(user, (Membership.Role.MANAGER,)))


def sees_fleet(user) -> bool:
    """Admins see the whole fleet, team managers their teams', everyone else none of it."""
    return user.is_authenticated and (user.is_superuser or bool(_teams_with_role(user, (Membership.Role.MANAGER,))))


def fleet_viewer_required(user) -> None:
    if not sees_fleet(user):
        raise PermissionDenied


def platform_admin_required(user) -> None:
    """The audit log and the Django admin are for platform administrators only."""
    if not user.is_superuser:
        raise PermissionDenied
