from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from monitoring.models import IdleStatus
from tests.vms.factories import make_vm
from vms.models import Membership, VirtualMachine

pytestmark = pytest.mark.django_db


def test_vm_list_shows_team_vms_and_hides_other_teams(member_client, member, team, other_team, make_user):
    stranger = make_user("mallory")
    mine = make_vm(team=team, owner=member, name="alices-training")
    hidden = make_vm(team=other_team, owner=stranger, name="mallorys-training")
    html = member_client.get(reverse("vm_list")).content.decode()
    assert mine.name in html
    assert hidden.name not in html


def test_vm_detail_is_404_for_strangers(member_client, other_team, make_user):
    vm = make_vm(team=other_team, owner=make_user("mallory"))
    assert member_client.get(reverse("vm_detail", args=[vm.pk])).status_code == 404
    assert member_client.get(reverse("vm_detail", args=[999999])).status_code == 404


def test_vm_detail_for_a_team_mate(member_client, team, make_user):
    mate = make_user("bob")
    Membership.objects.create(team=team, user=mate)
    vm = make_vm(team=team, owner=mate, name="bobs-vm")
    response = member_client.get(reverse("vm_detail", args=[vm.pk]))
    assert response.status_code == 200
    assert "bobs-vm" in response.content.decode()


def test_vm_list_filters(member_client, member, team):
    make_vm(team=team, owner=member, name="a-running", state="running")
    make_vm(team=team, owner=member, name="a-stopped", state="stopped")
    make_vm(team=team, owner=member, name="a-deleted", state="deleted")
    html = member_client.get(reverse("vm_list")).content.decode()
    assert "a-running" in html and "a-stopped" in html and "a-deleted" not in html
    html = member_client.get(reverse("vm_list"), {"state": "stopped"}).content.decode()
    assert "a-stopped" in html and "a-running" not in html
    html = member_client.get(reverse("vm_list"), {"state": "deleted"}).content.decode()
    assert "a-deleted" in html
    response = member_client.get(reverse("vm_list"), {"state": "nonsense", "team": "x", "page": "zzz"})
    assert response.status_code == 200


def test_vm_list_htmx_gets_the_table_partial(member_client, member, team):
    make_vm(team=team, owner=member, name="partial-vm")
    response = member_client.get(reverse("vm_list"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "partial-vm" in html
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="vm-table"')


def test_vm_list_query_count_does_not_grow(member_client, member, team, make_user):
    def queries():
        member_client.get(reverse("vm_list"))  # the steady state: the catalogue is read once per change
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get(reverse("vm_list")).status_code == 200
        return len(captured)

    make_vm(team=team, owner=member)
    few = queries()
    for index in range(30):
        owner = make_user(f"user{index}")
        Membership.objects.create(team=team, user=owner)
        make_vm(team=team, owner=owner, gpu=["L40S", "A100", "H100"][index % 3])
    assert queries() == few


def test_vm_list_paginates(member_client, member, team):
    for _ in range(30):
        make_vm(team=team, owner=member)
    first = member_client.get(reverse("vm_list")).content.decode()
    assert "Page 1 of 2" in first
    second = member_client.get(reverse("vm_list"), {"page": 2}).content.decode()
    assert "Page 2 of 2" in second


def test_detail_polls_until_settled_then_answers_286(member_client, member, team):
    vm = make_vm(team=team, owner=member, state="provisioning", cluster_status="Starting")
    page = member_client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert 'hx-trigger="every 3s"' in page
    response = member_client.get(reverse("vm_detail", args=[vm.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="vm-live"')

    type(vm).objects.filter(pk=vm.pk).update(state="running", cluster_status="Running")
    response = member_client.get(reverse("vm_detail", args=[vm.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "every 3s" not in response.content.decode()


def test_connection_details_are_audited_and_hidden_from_strangers(member_client, member, team, other_team, make_user):
    from vms.models import Event

    vm = make_vm(team=team, owner=member, external_ip="203.0.113.7")
    page = member_client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "203.0.113.7" not in page
    # A GET (a prefetch, a link preview) reveals nothing and records nothing.
    assert member_client.get(reverse("vm_connection", args=[vm.pk])).status_code == 405
    assert not Event.objects.filter(vm=vm, kind="access").exists()
    response = member_client.post(reverse("vm_connection", args=[vm.pk]), HTTP_HX_REQUEST="true")
    assert "ssh ubuntu@203.0.113.7" in response.content.decode()
    access = Event.objects.get(vm=vm, kind="access")
    assert (access.actor, access.text) == (member, "Viewed the connection details")
    # Without JavaScript the form posts too, and gets the whole page back.
    response = member_client.post(reverse("vm_connection", args=[vm.pk]))
    assert "ssh ubuntu@203.0.113.7" in response.content.decode() and "Timeline" in response.content.decode()
    assert Event.objects.filter(vm=vm, kind="access").count() == 2

    theirs = make_vm(team=other_team, owner=make_user("mallory"), external_ip="203.0.113.8")
    assert member_client.post(reverse("vm_connection", args=[theirs.pk])).status_code == 404
    assert not Event.objects.filter(vm=theirs).exists()


def test_team_mates_may_read_but_not_act_on_a_vm(member_client, team, make_user):
    from vms.models import VirtualMachine

    mate = make_user("bob")
    Membership.objects.create(team=team, user=mate)
    vm = make_vm(team=team, owner=mate, name="bobs-vm", state="running", cluster_status="Running")
    page = member_client.get(reverse("vm_detail", args=[vm.pk])).content.decode()
    assert "bobs-vm" in page and 'action="/vms/' not in page  # no buttons for a reader
    for url, data in [
        (reverse("vm_action", args=[vm.pk, "stop"]), {}),
        (reverse("vm_delete", args=[vm.pk]), {"confirm_name": "bobs-vm"}),
        (reverse("vm_resize", args=[vm.pk]), {"instance_type": "1"}),
        (reverse("vm_extend_lease", args=[vm.pk]), {"lease_ends_at": "2030-01-01T00:00"}),
    ]:
        assert member_client.post(url, data).status_code == 403
    assert VirtualMachine.objects.get(pk=vm.pk).state == "running"


def test_managers_act_on_their_teams_vms(member_client, member, team, make_user):
    from vms.models import VirtualMachine

    Membership.objects.filter(user=member).update(role="manager")
    vm = make_vm(team=team, owner=make_user("bob"), name="bobs-vm", state="running", cluster_status="Running")
    response = member_client.post(reverse("vm_action", args=[vm.pk, "stop"]))
    assert response.status_code == 302
    assert VirtualMachine.objects.get(pk=vm.pk).state == "stopping"


def test_actions_refuse_bad_input_and_change_nothing(member_client, member, team):
    from vms.models import VirtualMachine

    vm = make_vm(team=team, owner=member, name="mine", state="running", cluster_status="Running")
    assert member_client.post(reverse("vm_action", args=[vm.pk, "explode"])).status_code == 404
    response = member_client.post(reverse("vm_delete", args=[vm.pk]), {"confirm_name": "not-mine"}, follow=True)
    assert "to confirm the deletion" in response.content.decode()
    response = member_client.post(reverse("vm_resize", args=[vm.pk]), {"instance_type": "abc"}, follow=True)
    assert "not offered" in response.content.decode()
    response = member_client.post(reverse("vm_action", args=[vm.pk, "start"]), follow=True)
    assert "no longer in a state that allows this" in response.content.decode()
    assert VirtualMachine.objects.get(pk=vm.pk).state == "running"
    assert member_client.get(reverse("vm_action", args=[vm.pk, "stop"])).status_code == 405


def test_a_vms_manifests_are_what_the_portal_applies(member_client, member, team, other_team, make_user):
    import yaml

    from vms.render.manifests import validate_against_upstream

    vm = make_vm(
        team=team,
        owner=member,
        name="exported",
        state="stopped",
        disks=[{"name": "data", "size_gib": 10, "storage_class": "local"}],
    )
    response = member_client.get(reverse("vm_manifests", args=[vm.pk]))
    objects = list(yaml.safe_load_all(response.content))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("VMDisk", "exported-os"),
        ("VMDisk", "exported-data"),
        ("VMInstance", "exported"),
    ]
    assert objects[-1]["spec"]["runStrategy"] == "Halted"
    assert objects[-1]["metadata"]["labels"]["portal.hikube.cloud/vm-id"] == str(vm.pk)
    assert all(validate_against_upstream(obj) == [] for obj in objects)
    theirs = make_vm(team=other_team, owner=make_user("mallory"))
    assert member_client.get(reverse("vm_manifests", args=[theirs.pk])).status_code == 404


def test_vm_page_query_count_does_not_grow_with_its_history(member_client, member, team):
    from vms.governance.services import event_record

    vm = make_vm(team=team, owner=member, state="approved")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert member_client.get(reverse("vm_detail", args=[vm.pk])).status_code == 200
        return len(captured)

    queries()  # the first reads the catalogue into the process
    few = queries()
    for index in range(40):
        event_record(kind="cluster", vm=vm, actor=member, message="Step %(n)d", data={"n": index})
        make_vm(team=team, owner=member, state="approved")
    assert queries() == few


def test_vm_list_refreshes_itself_only_while_a_vm_is_on_its_way(member_client, member, team):
    vm = make_vm(team=team, owner=member, name="booting", state="provisioning")
    page = member_client.get(reverse("vm_list")).content.decode()
    assert 'hx-trigger="every 5s"' in page and "poll=1" in page
    assert member_client.get(reverse("vm_list"), {"poll": "1"}, HTTP_HX_REQUEST="true").status_code == 200

    type(vm).objects.filter(pk=vm.pk).update(state="running", cluster_status="Running")
    response = member_client.get(reverse("vm_list"), {"poll": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "every 5s" not in response.content.decode()
    # A filter change is not a poll: it always gets its table.
    assert member_client.get(reverse("vm_list"), {"state": "running"}, HTTP_HX_REQUEST="true").status_code == 200


def test_an_htmx_action_shows_its_outcome_in_the_part_it_redraws(member_client, member, team):
    from datetime import timedelta

    from django.utils import timezone

    vm = make_vm(team=team, owner=member, state="stopped", lease_ends_at=timezone.now() - timedelta(hours=1))
    response = member_client.post(reverse("vm_action", args=[vm.pk, "start"]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="vm-live"')
    assert "ask for an extension before starting it" in html


def test_a_vm_still_renders_after_its_catalogue_entries_are_withdrawn(member_client, member, team):
    import yaml

    from vms.models import GpuModel, Image, InstanceType

    vm = make_vm(team=team, owner=member, name="legacy-kit", gpu="A100", instance_type="g1.large")
    # As the admin withdraws them: one save each (which also tells every process's cached catalogue).
    for row in (GpuModel.objects.get(slug="A100"), InstanceType.objects.get(name="g1.large")):
        row.active = False
        row.save()
    ubuntu = Image.objects.get(slug="ubuntu")
    ubuntu.active = False
    ubuntu.save()
    objects = list(yaml.safe_load_all(member_client.get(reverse("vm_manifests", args=[vm.pk])).content))
    assert objects[-1]["spec"]["gpus"] == [{"name": "nvidia.com/GA100_A100_PCIE_80GB"}]
    assert objects[-1]["spec"]["instanceType"] == "g1.large"


def test_a_second_restart_click_says_the_first_is_on_its_way(member_client, member, team):
    from vms.models import Event

    vm = make_vm(team=team, owner=member, name="rebooted")
    url = reverse("vm_action", args=[vm.pk, "restart"])
    member_client.post(url)
    page = member_client.post(url, follow=True).content.decode()
    assert "A restart of rebooted is already on its way." in page
    assert Event.objects.filter(vm=vm, data__restart="requested").count() == 1


def test_the_pager_keeps_the_filters_and_drops_the_polling_flag(member_client, member, team):
    for _ in range(30):
        make_vm(team=team, owner=member)
    html = member_client.get(reverse("vm_list"), {"team": team.pk, "poll": "1", "page": "1"}).content.decode()
    assert f'href="?team={team.pk}&amp;page=2"' in html


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_state_reads_as_its_label_in_the_page_language(language):
    vm = VirtualMachine(state=VirtualMachine.State.PENDING_APPROVAL)
    with translation.override(language):
        assert vm.get_state_display() == str(VirtualMachine.State.PENDING_APPROVAL.label)
        assert vm.get_state_display() == {"en": "Waiting for approval", "fr": "En attente d'approbation"}[language]
    assert VirtualMachine(state="no-such-state").get_state_display() == "no-such-state"


def test_the_home_page_reads_only_the_vms_once_the_memberships_are_kept(member_client, member, team, other_team):
    Membership.objects.create(team=other_team, user=member, role=Membership.Role.READER)
    vms = [make_vm(team=team, owner=member, gpu=["L40S", "A100", "H100"][index % 3]) for index in range(10)]
    # The steady state: the catalogue is read once per change, the memberships once per change too
    # (vms.rights_cache).
    member_client.get(reverse("home"))
    with CaptureQueriesContext(connection) as captured:
        html = member_client.get(reverse("home")).content.decode()
    # The session, the user, the VMs.
    assert len(captured) == 3, [query["sql"] for query in captured]
    assert sum(reverse("vm_detail", args=[vm.pk]) in html for vm in vms) == 8
    assert "H100" in html and "A100" in html
    assert "tenant-vision" in html and "ML research" in html


def test_the_vm_list_says_each_vm_age_with_its_exact_time_on_hover(member_client, member, team):
    vm = make_vm(team=team, owner=member, name="three-days-old")
    VirtualMachine.objects.filter(pk=vm.pk).update(created_at=timezone.now() - timedelta(days=3, hours=2))
    with translation.override("fr"):
        html = member_client.get(reverse("vm_list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "3\xa0jours</time>" in html
    created = timezone.localtime(VirtualMachine.objects.get(pk=vm.pk).created_at)
    assert f'title="{created:%Y-%m-%d %H:%M}"' in html


@pytest.mark.parametrize("idle", [False, True], ids=["busy", "idle"])
def test_the_vm_page_reads_its_idle_warning_with_the_vm(member_client, member, team, idle):
    vm = make_vm(team=team, owner=member)
    if idle:
        IdleStatus.objects.create(vm=vm, idle_since=timezone.now(), average_percent=0.4, warned_at=timezone.now())
    url = reverse("vm_detail", args=[vm.pk])
    member_client.get(url)  # the steady state: the catalogue and the roles are kept after the first
    with CaptureQueriesContext(connection) as captured:
        html = member_client.get(url).content.decode()
    # The session, the user, the VM with its team, owner and idle status, its timeline (and,
    # for a VM with a lease, its pending lease extension).
    assert len(captured) == 4, [query["sql"] for query in captured]
    assert ("have been idle since" in html) is idle
