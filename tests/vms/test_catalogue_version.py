"""The catalogue's version is read from the cache once a request (vms.catalogue.version), and
at every ask outside one: a task never holds a version an admin has since replaced."""

from unittest import mock

import pytest
from django.urls import reverse

from tests.vms.factories import make_vm
from vms.catalogue import version
from vms.catalogue.loading import catalogue_rows
from vms.models import GpuModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def version_reads():
    with mock.patch.object(version.cache, "get_or_set", wraps=version.cache.get_or_set) as get_or_set:
        yield lambda: sum(call.args[0] == version.VERSION_KEY for call in get_or_set.call_args_list)


@pytest.mark.parametrize("page", ["vm_list", "vm_detail", "vm_request"])
def test_a_page_reads_the_version_once(member_client, member, team, version_reads, page):
    vm = make_vm(team=team, owner=member)
    url = reverse(page, args=[vm.pk]) if page == "vm_detail" else reverse(page)
    assert member_client.get(url).status_code == 200
    assert version_reads() == 1
    assert member_client.get(url).status_code == 200
    assert version_reads() == 2


def test_outside_a_request_every_ask_reads_it(version_reads):
    catalogue_rows()
    catalogue_rows()
    assert version_reads() == 2


def test_a_request_that_changes_the_catalogue_reads_the_new_rows():
    version.request_started()
    try:
        before = catalogue_rows()
        gpu = GpuModel.objects.get(slug="L40S")
        gpu.memory_gb = 96
        gpu.save()
        after = catalogue_rows()
    finally:
        version.request_finished()
    assert after is not before
    assert next(row for row in after.gpu_models if row.slug == "L40S").memory_gb == 96
