"""Every CSV the portal writes (audit log, fleet, GPU-hours) goes through this: cells hold names
and text users typed, and a spreadsheet runs a cell that starts with = + - @ (or a tab or
carriage return before one) as a formula."""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A negative figure is data, not a formula: left as it is, it stays a number in the spreadsheet.
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_cell(value):
    """`value`, with a leading apostrophe when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_rows(rows):
    """`rows` (an iterable of sequences), each cell made inert."""
    return ([safe_cell(value) for value in row] for row in rows)
