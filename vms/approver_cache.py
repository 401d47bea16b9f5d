"""Whether a user approves, kept in the cache rather than read from the permission tables: two
joined queries (2 ms) on every page, since the navigation asks. Every change the ORM makes to
users' permissions or groups, or to groups' permissions, clears it at once
(`approver_rights_changed`, connected in vms.apps); APPROVER_CACHE_SECONDS bounds what a change
made behind the ORM's back leaves. Reads no model, so that the app's configuration can connect
the receiver before the models load."""

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete

APPROVER_CACHE_SECONDS = 60
# What approver_rights_changed follows: (signal, sender as "app_label.Model"): the two
# relations that give a user permissions, the one that gives a group permissions, and groups.
SOURCES = (
    (m2m_changed, "auth.User_user_permissions"),
    (m2m_changed, "auth.User_groups"),
    (m2m_changed, "auth.Group_permissions"),
    (post_delete, "auth.Group"),
)
# Kept on the user object too: a request's user lives as long as the request.
ON_USER = "_portal_approver"


def _key(user_id: int) -> str:
    return f"portal:approver:{user_id}"


def remembered(user) -> bool | None:
    """What was last found for `user`, or None when nothing is kept."""
    if (approver := user.__dict__.get(ON_USER)) is None:
        approver = cache.get(_key(user.pk))
        if approver is not None:
            setattr(user, ON_USER, approver)
    return approver


def remember(user, approver: bool) -> bool:
    cache.set(_key(user.pk), approver, APPROVER_CACHE_SECONDS)
    setattr(user, ON_USER, approver)
    return approver


def approver_rights_changed(**kwargs) -> None:
    """The receiver. Such changes are rare admin work: every user's flag is read again."""
    cache.delete_many([_key(pk) for pk in get_user_model().objects.values_list("pk", flat=True)])
    if isinstance(user := kwargs.get("instance"), get_user_model()):
        user.__dict__.pop(ON_USER, None)
