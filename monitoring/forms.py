from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
RANGE_LABELS = {"1h": _("1 h"), "6h": _("6 h"), "24h": _("24 h"), "7d": _("7 d")}
DEFAULT_RANGE = "6h"
MAX_CUSTOM_RANGE = timedelta(days=31)
# A clock a little ahead of the server's is no reason to refuse a range ending "now".
FUTURE_TOLERANCE = timedelta(minutes=5)
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class ChartRange:
    key: str
    start: datetime
    end: datetime

    @property
    def relative(self) -> bool:
        """Ends now and moves with the clock (what auto-refresh is for)."""
        return self.key != "custom"

    def query(self) -> str:
        if self.relative:
            return f"range={self.key}"
        return (
            f"range=custom&start={timezone.localtime(self.start).strftime(DATETIME_LOCAL)}"
            f"&end={timezone.localtime(self.end).strftime(DATETIME_LOCAL)}"
        )


class RangeForm(forms.Form):
    """The chart range: one of the fixed ranges ending now, or a custom start and end in the
    portal's time zone (the datetime-local inputs carry no zone)."""

    range = forms.ChoiceField(choices=[*RANGE_LABELS.items(), ("custom", _("Custom"))], required=False)
    start = forms.DateTimeField(
        label=_("From"),
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    end = forms.DateTimeField(
        label=_("To"),
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    def clean(self):
        data = super().clean()
        key = data.get("range") or DEFAULT_RANGE
        if key != "custom" or self.errors:
            return data
        start, end = data.get("start"), data.get("end")
        if start is None:
            self.add_error("start", _("Give the start of the range."))
        if end is None:
            self.add_error("end", _("Give the end of the range."))
        if start is None or end is None:
            return data
        if end <= start:
            self.add_error("end", _("The end must be after the start."))
        elif end - start > MAX_CUSTOM_RANGE:
            self.add_error("end", _("A range covers at most 31 days."))
        elif end > self.now + FUTURE_TOLERANCE:
            self.add_error("end", _("The end cannot be in the future."))
        elif start >= self.now:
            # The end may be a little ahead (clock skew) and is then cut to now: after the start.
            self.add_error("start", _("The start cannot be in the future."))
        return data

    def chart_range(self) -> ChartRange:
        """The range asked for, or the default one when the form is invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        key = data.get("range") or DEFAULT_RANGE
        if key == "custom" and data.get("start") and data.get("end"):
            return ChartRange("custom", data["start"], min(data["end"], self.now))
        key = key if key in RANGES else DEFAULT_RANGE
        return ChartRange(key, self.now - timedelta(seconds=RANGES[key]), self.now)


class MonthForm(forms.Form):
    month = forms.RegexField(
        regex=r"^\d{4}-\d{2}$",
        required=False,
        label=_("Month"),
        error_messages={"invalid": _("Give a month as YYYY-MM, e.g. 2026-11.")},
        widget=forms.TextInput(attrs={"type": "month"}),
    )

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = timezone.localtime(now or timezone.now())

    def clean_month(self) -> tuple[int, int]:
        value = self.cleaned_data.get("month")
        if not value:
            return self.now.year, self.now.month
        year, month = (int(part) for part in value.split("-"))
        if not 1 <= month <= 12 or year < 2000:
            raise forms.ValidationError(_("Give a month as YYYY-MM, e.g. 2026-11."))
        if (year, month) > (self.now.year, self.now.month):
            raise forms.ValidationError(_("That month has not started yet."))
        return year, month

    def year_month(self) -> tuple[int, int]:
        if self.is_valid():
            return self.cleaned_data["month"]
        return self.now.year, self.now.month
