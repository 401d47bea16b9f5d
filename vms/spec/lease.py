"""When a lease may end: the rules the request form, the lease-extension form and the REST API
share, so each gives the same answer to the same date."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

MIN_LEASE = timedelta(hours=1)


def lease_end_problem(lease_ends_at: datetime | None, *, gpu_model_slug: str, needs_approval: bool) -> str | None:
    """What is wrong with a new request's lease end, or None."""
    if lease_ends_at is None:
        if needs_approval and settings.LEASE_REQUIRED_FOR_APPROVAL:
            return _("%(model)s requests need a lease end: say when the GPUs go back.") % {"model": gpu_model_slug}
        return None
    now = timezone.now()
    if lease_ends_at <= now + MIN_LEASE:
        return _("The lease must end at least one hour from now.")
    if lease_ends_at > now + timedelta(days=settings.LEASE_MAX_DAYS):
        return _("A lease lasts at most %(days)d days; ask for an extension later.") % {"days": settings.LEASE_MAX_DAYS}
    return None


def lease_extension_problem(lease_ends_at: datetime, *, current_end: datetime | None) -> str | None:
    """What is wrong with the new end of an extension, or None."""
    now = timezone.now()
    if lease_ends_at <= max(now, current_end or now):
        return _("The new end must be later than the current one and in the future.")
    if lease_ends_at > now + timedelta(days=settings.LEASE_MAX_DAYS):
        return _("A lease lasts at most %(days)d days from now.") % {"days": settings.LEASE_MAX_DAYS}
    return None


def extension_justification_problem(justification: str, *, needs_approval: bool) -> str | None:
    if needs_approval and not justification.strip():
        return _("Tell the approver why you need the GPUs longer.")
    return None
