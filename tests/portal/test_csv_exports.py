"""No CSV the portal writes carries a cell a spreadsheet would run as a formula: audit log, fleet
and GPU-hours all go through hikube_portal.csv_cells (issue 12, finding 5)."""

import csv
import io

import pytest
from django.urls import reverse

from hikube_portal.csv_cells import safe_cell
from tests.vms.factories import make_vm
from vms.models import Event, Membership, Team

pytestmark = pytest.mark.django_db

FORMULAS = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_leading_formula_character_is_neutralised(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "a=b", "", "-1.5", "42", 7, None, "1-2"])
def test_other_cells_are_left_alone(value):
    assert safe_cell(value) == value


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_inert(text: str, *expected):
    found = cells(text)
    for value in expected:
        assert "'" + value in found, (value, found)
    for cell in found:
        assert not cell.startswith(tuple("=+@\t\r")), cell
        assert not cell.startswith("-") or cell.replace(".", "").lstrip("-").isdigit(), cell


@pytest.fixture
def hostile(make_user):
    """A team and an owner whose names a spreadsheet would evaluate, and a running VM."""
    owner = make_user("-2+3")
    team = Team.objects.create(name="=cmd")
    Membership.objects.create(team=team, user=owner)
    vm = make_vm(team=team, owner=owner, name="llm", state="running")
    return team, owner, vm


def test_the_audit_export_is_inert(admin_client, hostile):
    team, owner, vm = hostile
    for index, text in enumerate(FORMULAS):
        Event.objects.create(
            kind=Event.Kind.ACTION, actor=owner, team=team, vm=vm, target=f"@target{index}", message=text, reason=text
        )
    response = admin_client.get(reverse("audit_log"), {"format": "csv"})
    assert_inert(b"".join(response.streaming_content).decode(), *FORMULAS, "-2+3", "=cmd", "@target0")


def test_the_fleet_export_is_inert(admin_client, hostile, settings):
    settings.PROMETHEUS_URL = ""
    response = admin_client.get(reverse("fleet"), {"format": "csv"})
    assert response.status_code == 200
    assert_inert(b"".join(response.streaming_content).decode(), "-2+3", "=cmd")


@pytest.mark.parametrize(("table", "expected"), [("vm", ["=cmd", "-2+3"]), ("user", ["-2+3"]), ("team", ["=cmd"])])
def test_the_gpu_hours_export_is_inert(admin_client, hostile, settings, table, expected):
    settings.PROMETHEUS_URL = ""
    response = admin_client.get(reverse("gpu_hours"), {"format": "csv", "table": table})
    assert response.status_code == 200
    assert_inert(b"".join(response.streaming_content).decode(), *expected)
