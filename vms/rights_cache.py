"""What the rules ask on nearly every page, kept in the cache rather than read from the database:
whether a user approves (two joined queries on the permission tables, 2 ms, since the navigation
asks) and their memberships with their teams (one query, since the navigation asks whether they
see the fleet, and the home page, the VM list and the request form show the teams). The first ask
of a request reads both in one round trip, and the request's user object keeps them: it lives as
long as the request.

Every change the ORM makes clears the entries it touches at once and again when its transaction
commits (a request reading between the two would otherwise keep what the transaction replaces):
a user's permissions or groups, a group's permissions or the group itself clear every user's
approver flag; a membership saved or deleted clears its user's memberships, and a team saved
clears its members'. RIGHTS_CACHE_SECONDS bounds what a change made behind the ORM's back leaves.
Reads no model, so that the app's configuration can connect the receivers before the models
load."""

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

RIGHTS_CACHE_SECONDS = 60
APPROVER = "approver"
MEMBERSHIPS = "memberships"
# Where the request's user object keeps each kind.
ON_USER = {APPROVER: "_portal_approver", MEMBERSHIPS: "_portal_memberships"}
# What each receiver follows: (signal, sender as "app_label.Model").
APPROVER_SOURCES = (
    (m2m_changed, "auth.User_user_permissions"),
    (m2m_changed, "auth.User_groups"),
    (m2m_changed, "auth.Group_permissions"),
    (post_delete, "auth.Group"),
)
MEMBERSHIP_SOURCES = ((post_save, "vms.Membership"), (post_delete, "vms.Membership"))


def _key(kind: str, user_id: int) -> str:
    return f"portal:{kind}:{user_id}"


def remembered(user, kind: str):
    """What was last found of `kind` for `user`, or None when nothing is kept."""
    attribute = ON_USER[kind]
    if attribute not in user.__dict__:
        found = cache.get_many([_key(each, user.pk) for each in ON_USER])
        for each, each_attribute in ON_USER.items():
            user.__dict__.setdefault(each_attribute, found.get(_key(each, user.pk)))
    return user.__dict__[attribute]


def remember(user, kind: str, value):
    """Keeps `value` for this request and, for RIGHTS_CACHE_SECONDS, the next ones."""
    cache.set(_key(kind, user.pk), value, RIGHTS_CACHE_SECONDS)
    user.__dict__[ON_USER[kind]] = value
    return value


def forget(user) -> None:
    """After changing the user's rights: this request and the next ones read them again."""
    for attribute in ON_USER.values():
        user.__dict__.pop(attribute, None)
    _clear([_key(kind, user.pk) for kind in ON_USER])


def _clear(keys: list[str]) -> None:
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def approver_rights_changed(**kwargs) -> None:
    """A receiver. Such changes are rare admin work: every user's flag is read again."""
    _clear([_key(APPROVER, pk) for pk in get_user_model().objects.values_list("pk", flat=True)])
    if isinstance(user := kwargs.get("instance"), get_user_model()):
        user.__dict__.pop(ON_USER[APPROVER], None)


def membership_changed(instance, **kwargs) -> None:
    """A receiver: the membership's user reads their memberships again."""
    _clear([_key(MEMBERSHIPS, instance.user_id)])


def team_changed(instance, **kwargs) -> None:
    """A receiver (a team saved: renamed, enabled or disabled): its members read their
    memberships, which carry the team, again."""
    _clear([_key(MEMBERSHIPS, user_id) for user_id in instance.memberships.values_list("user_id", flat=True)])
