"""A list's rows rendered once, then read from the cache in one round trip (hikube_portal.fragments):
whatever changes what a row shows (the row, a related row, the language, the clock) is rendered
again, with no invalidation anywhere."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hikube_portal import fragments
from tests.vms.factories import make_vm
from vms.catalogue.loading import rendered_vm_rows
from vms.governance import selectors
from vms.models import VirtualMachine
from vms.web.views import VM_ROW_FIELDS

pytestmark = pytest.mark.django_db
ROW = "vms/vm_list.html#vm-row"


def _fragment_calls(spy) -> list[int]:
    """How many fragments each of the cache's calls named (the rights' reads aside)."""
    return [len(call.args[0]) for call in spy.call_args_list if "fragment:" in str(call.args[0])]


def test_a_page_of_rows_is_rendered_once_then_read_in_one_round_trip(member_client, member, team):
    for number in range(3):
        make_vm(team=team, owner=member, name=f"row-{number}")
    with (
        mock.patch.object(fragments.cache, "get_many", wraps=cache.get_many) as get_many,
        mock.patch.object(fragments.cache, "set_many", wraps=cache.set_many) as set_many,
    ):
        first = member_client.get(reverse("vm_list")).text
        assert (_fragment_calls(get_many), _fragment_calls(set_many)) == ([3], [3])
        second = member_client.get(reverse("vm_list")).text
        assert (_fragment_calls(get_many), _fragment_calls(set_many)) == ([3, 3], [3])
    rows = re.compile(r"<tbody>.*</tbody>", re.DOTALL)
    assert rows.search(second)[0] == rows.search(first)[0]
    assert all(f">row-{number}</a>" in second for number in range(3))


def test_a_row_changed_behind_the_orms_back_shows_its_new_values(member_client, member, team):
    vm = make_vm(team=team, owner=member, name="train", cluster_status="Running")
    assert "Running" in member_client.get(reverse("vm_list")).text
    # A queryset update: no signal, no updated_at, nothing that could invalidate anything.
    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped", cluster_status="Halted")
    page = member_client.get(reverse("vm_list")).text
    assert "Halted" in page
    assert 'class="badge ok"' not in page


def test_a_renamed_owner_and_another_language_render_the_row_again(member_client, member, team):
    make_vm(team=team, owner=member, name="train")
    assert "Running" in member_client.get(reverse("vm_list")).text
    member.first_name, member.last_name = "Ada", "Lovelace"
    member.save()
    assert "Ada Lovelace" in member_client.get(reverse("vm_list")).text
    french = member_client.get(reverse("vm_list"), headers={"accept-language": "fr"}).text
    assert "En marche" in french
    assert "Ada Lovelace" in french


def test_a_rows_age_is_said_anew_as_time_passes(member_client, member, team):
    vm = make_vm(team=team, owner=member, name="train")
    VirtualMachine.objects.filter(pk=vm.pk).update(created_at=timezone.now() - timedelta(hours=3))
    assert "3\xa0hours" in member_client.get(reverse("vm_list")).text
    later = timezone.now() + timedelta(days=2)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert "2\xa0days" in member_client.get(reverse("vm_list")).text


def test_a_team_renamed_behind_the_orms_back_shows_its_new_name(member, team):
    vm = make_vm(team=team, owner=member, name="train")

    def row_html():
        row = VirtualMachine.objects.select_related("team", "owner").get(pk=vm.pk)
        return fragments.rendered_rows(ROW, [row], name="vm", extra=lambda vm: {"age": ""})[0]

    assert "ML research" in row_html()
    # Only the related row changes: the VM's own columns are what they were.
    type(team).objects.filter(pk=team.pk).update(display_name="Vision Lab")
    assert "Vision Lab" in row_html()


def test_a_value_whose_repr_may_hide_what_it_shows_is_refused():
    class Opaque:
        def __repr__(self):
            return "Opaque"

    with pytest.raises(TypeError, match="Opaque cannot be part of a fragment's key"):
        fragments.rendered_fragment("monitoring/fleet.html#team-options", {"teams": [Opaque()], "team_id": None})


@pytest.mark.parametrize("page_name", ["vm_list", "home"])
def test_a_page_whose_rows_are_all_in_the_cache_reads_no_vm(member_client, member, team, page_name):
    for number in range(3):
        make_vm(team=team, owner=member, name=f"row-{number}")
    with CaptureQueriesContext(connection) as cold:
        member_client.get(reverse(page_name))
    with CaptureQueriesContext(connection) as warm:
        page = member_client.get(reverse(page_name)).text

    def whole_vms(queries):
        return [query["sql"] for query in queries if '"vms_virtualmachine"."id" IN (' in query["sql"]]

    assert len(whole_vms(cold)) == 1 and whole_vms(warm) == []
    assert all(f">row-{number}</a>" in page for number in range(3))
    # The pager counts the VMs alone, not joined to the teams and owners their rows name.
    counts = [query["sql"] for query in warm if "COUNT(*)" in query["sql"]]
    assert len(counts) == (page_name == "vm_list") and not any("JOIN" in count for count in counts)


def test_a_row_changed_between_its_two_reads_shows_as_it_now_is_and_is_not_kept(member, team):
    vm = make_vm(team=team, owner=member, name="train", cluster_status="Running")
    vms = selectors.vm_list(user=member, fields=VM_ROW_FIELDS)
    (as_listed,) = fragments.row_values(vms)
    # The VM stops after the page's rows were read, before the missing ones are read whole.
    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped", cluster_status="Halted")

    def rendered():
        return rendered_vm_rows(ROW, [as_listed], vms, extra=lambda row: {"age": ""})

    with mock.patch.object(fragments.cache, "set_many", wraps=cache.set_many) as set_many:
        (row,) = rendered()
        assert "Halted" in row and "Stopped" in row
        assert _fragment_calls(set_many) == []
        # Asked again with the values it no longer has, the row is read again, not found.
        with CaptureQueriesContext(connection) as again:
            assert "Halted" in rendered()[0]
    assert [query for query in again if '"vms_virtualmachine"."id" IN (' in query["sql"]]
