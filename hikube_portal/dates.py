"""Dates on list rows (vms.templatetags.when makes them template filters), for a fraction of what
Django's filters cost there: `timesince` does calendar arithmetic and translates two units, and a
datetime's own rendering formats it through the locale's DATETIME_FORMAT, about 25 and 30 µs a
row, the largest share of a VM list row. Here too so that a view can say a row's age (the key of
its cached HTML, hikube_portal.fragments)."""

from datetime import datetime

from django.utils import timezone
from django.utils.translation import ngettext

# The largest unit that fits is said alone ("3 days"): what a list's Age column needs. The
# msgids are Django's own (django.utils.timesince), so both catalogues agree.
_UNITS = (
    (365 * 86400, lambda n: ngettext("%(num)d year", "%(num)d years", n)),
    (30 * 86400, lambda n: ngettext("%(num)d month", "%(num)d months", n)),
    (7 * 86400, lambda n: ngettext("%(num)d week", "%(num)d weeks", n)),
    (86400, lambda n: ngettext("%(num)d day", "%(num)d days", n)),
    (3600, lambda n: ngettext("%(num)d hour", "%(num)d hours", n)),
    (60, lambda n: ngettext("%(num)d minute", "%(num)d minutes", n)),
)


def age(then: datetime | None) -> str:
    """How long ago `then` was, in its largest unit; "0 minutes" for the future or under a minute."""
    return age_at(then, timezone.now()) if isinstance(then, datetime) else ""


def age_at(then: datetime, now: datetime) -> str:
    seconds = (now - then).total_seconds()
    unit_seconds, phrase = next(((unit, phrase) for unit, phrase in _UNITS if seconds >= unit), _UNITS[-1])
    count = max(int(seconds // unit_seconds), 0)
    # A non-breaking space, as timesince's: a narrow column never splits "3" from "days".
    return (phrase(count) % {"num": count}).replace(" ", "\xa0")


def moment(value: datetime | None) -> str:
    """`value` to the minute in the portal's time zone, as ISO 8601 writes it (2026-12-01 16:32):
    a tooltip's exact time, the same in every language."""
    if not isinstance(value, datetime):
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
