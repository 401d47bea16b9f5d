"""Every CSV the portal writes (audit log, fleet, GPU-hours) goes through this: cells hold names
and text users typed, and a spreadsheet runs a cell that starts with = + - @ (or a tab or
carriage return before one) as a formula. The response streams: an export of any size is
written as it is read, never held whole in memory."""

import csv
import re
from itertools import chain

from django.http import StreamingHttpResponse

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


class _Line:
    """A file csv.writer writes one row to, and hands back."""

    def write(self, value):
        return value


def csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    """A CSV download of `rows` (an iterable, read as the response is sent), cells made inert."""
    writer = csv.writer(_Line())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in chain([header], safe_rows(rows))), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
