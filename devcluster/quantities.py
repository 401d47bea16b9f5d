"""Kubernetes quantities, as far as counting devices needs them."""

from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": Decimal("0.001"),
}


def whole_quantity(quantity) -> int:
    """ "2", "1k", 3 -> a whole number (rounded up, as the quota controller counts); bad text -> 0."""
    text = str(quantity).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number, multiplier = text[: -len(suffix)], _SUFFIXES[suffix]
            break
    else:
        number, multiplier = text, 1
    try:
        value = Decimal(number) * multiplier
    except InvalidOperation:
        return 0
    return int(value.to_integral_value(rounding="ROUND_CEILING"))
