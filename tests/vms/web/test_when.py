"""The list rows' date filters: the largest unit of an age, in both languages, and a moment to the
minute in the portal's time zone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from hikube_portal.dates import age_at

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "english", "french"),
    [
        (timedelta(seconds=59), "0\xa0minutes", "0\xa0minute"),
        (timedelta(minutes=1), "1\xa0minute", "1\xa0minute"),
        (timedelta(hours=2, minutes=59), "2\xa0hours", "2\xa0heures"),
        (timedelta(days=1, hours=23), "1\xa0day", "1\xa0jour"),
        (timedelta(days=13), "1\xa0week", "1\xa0semaine"),
        (timedelta(days=65), "2\xa0months", "2\xa0mois"),
        (timedelta(days=800), "2\xa0years", "2\xa0années"),
        # A clock a little ahead of the database's: never a negative age.
        (-timedelta(minutes=5), "0\xa0minutes", "0\xa0minute"),
    ],
)
def test_an_age_is_its_largest_unit_in_the_reader_language(ago, english, french):
    with translation.override("en"):
        assert age_at(NOW - ago, NOW) == english
    with translation.override("fr"):
        assert age_at(NOW - ago, NOW) == french


def test_the_filters_render_a_moment_in_the_portal_time_zone_and_leave_a_missing_one_empty():
    template = Template("{% load when %}{{ at|moment }}|{{ ago|age }}|{{ missing|moment }}{{ missing|age }}")
    context = {"at": datetime(2026, 12, 1, 15, 32, 59, tzinfo=UTC), "ago": timezone.now() - timedelta(days=3, hours=1)}
    with timezone.override("Europe/Paris"), translation.override("en"):
        assert template.render(Context(context)) == "2026-12-01 16:32|3\xa0days|"
