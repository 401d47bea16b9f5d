"""Kubernetes quantities, read as whole GiB."""

import re
from decimal import Decimal, InvalidOperation, localcontext

from django.utils.translation import gettext as _

GIB = 2**30
# Nobody attaches a pebibyte disk to a VM; past this a size is a typo.
MAX_QUANTITY_GIB = 2**20
_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)")
_UNIT_BYTES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
_MAX_QUANTITY_CHARS = 32


def parse_quantity_gib(value: object) -> tuple[int | None, str | None]:
    """A Kubernetes quantity such as "200Gi" as a whole number of GiB, or an error message."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None, _("Add a unit, for example %(value)sGi: a bare number means bytes to Kubernetes.") % {
            "value": value
        }
    if not isinstance(value, str):
        return None, _("Write a size such as 200Gi or 2Ti.")
    text = value.strip()
    match = _QUANTITY.fullmatch(text) if len(text) <= _MAX_QUANTITY_CHARS else None
    if match is None:
        if text.startswith("-"):
            return None, _("The size must be greater than zero.")
        return None, _("“%(value)s” is not a size; write one such as 200Gi or 2Ti.") % {"value": value[:40]}
    with localcontext() as context:
        context.prec = 80
        try:
            size_bytes = Decimal(match["number"]) * _UNIT_BYTES[match["unit"]]
        except InvalidOperation:
            return None, _("“%(value)s” is not a size; write one such as 200Gi or 2Ti.") % {"value": value[:40]}
        if size_bytes == 0:
            return None, _("The size must be greater than zero.")
        if size_bytes > MAX_QUANTITY_GIB * GIB:
            return None, _("%(value)s is far larger than any disk; check the unit.") % {"value": text}
        if size_bytes % GIB:
            if match["unit"] in ("k", "M", "G", "T", "P"):
                return None, _(
                    "%(value)s is %(gib)s GiB, not a whole number of GiB; did you mean %(number)s%(unit)si?"
                ) % {
                    "value": text,
                    "gib": f"{size_bytes / GIB:.2f}",
                    "number": match["number"],
                    "unit": match["unit"].upper(),
                }
            return None, _("%(value)s is not a whole number of GiB.") % {"value": text}
        return int(size_bytes // GIB), None
