"""The VM operations of /api/v1/: the same rules and answers as the pages, in JSON."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.vms.api.conftest import ApiClient
from tests.vms.factories import make_vm
from tests.vms.web.test_request_form import ED25519_KEY, field_errors, in_days, valid_post
from vms.models import ChangeRequest, Event, GpuModel, VirtualMachine

pytestmark = pytest.mark.django_db
VMS = "/api/v1/vms/"


def document(team, **overrides):
    body = {
        "name": "train-01",
        "team": team.name,
        "instance_type": "g1.large",
        "gpu_model": "L40S",
        "image": "ubuntu",
        "system_disk": {"size": "100Gi", "storage_class": "replicated"},
        "public_ports": [22],
        "ssh_keys": [ED25519_KEY],
        "software": ["nvidia-driver", "dcgm-exporter"],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def errors_of(response) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["field"], []).append(error["message"])
    return found


def test_a_request_is_recorded_as_the_form_records_it(member, team, api_as):
    response = api_as(member).post(VMS, document(team))
    assert response.status_code == 201, response.json()
    vm = VirtualMachine.objects.get()
    body = response.json()
    assert response["Location"] == f"/api/v1/vms/{vm.pk}/"
    assert (body["id"], body["state"], body["team"], body["owner"]) == (vm.pk, "approved", team.name, "alice")
    assert (vm.gpu_count, vm.ssh_keys, vm.system_disk_gib) == (1, [ED25519_KEY], 100)
    assert body["timeline"][0]["message"] == "Requested 1× L40S on g1.large"
    assert "delete" in body["actions"]


def test_a_preset_fills_what_the_document_leaves_out(member, team, api_as):
    response = api_as(member).post(VMS, {"preset": "dual-a100", "team": team.name, "name": "pair-01"})
    assert response.status_code == 201, response.json()
    vm = VirtualMachine.objects.get()
    assert (vm.name, vm.instance_type.name, vm.gpu_model.slug, vm.system_disk_gib) == (
        "pair-01",
        "g2.large",
        "A100",
        200,
    )
    assert api_as(member).post(VMS, {"preset": "nope", "team": team.name}).json()["errors"][0]["field"] == "preset"


# The same mistake through the form and through the API: the same message on the same field.
SAME_ANSWERS = [
    ({"name": "Train_01"}, {"name": "Train_01"}, "name", "name"),
    ({"system_disk": {"size": "5Gi"}}, {"system_disk_size": "5"}, "system_disk.size", "system_disk_size"),
    ({"public_ports": [22, 70000]}, {"public_ports": "22, 70000"}, "public_ports", "public_ports"),
    ({"ssh_keys": ["ssh-ed25519 notbase64"]}, {"ssh_keys": "ssh-ed25519 notbase64"}, "ssh_keys", "ssh_keys"),
    ({"cloud_config": "runcmd: not-a-list"}, {"cloud_config": "runcmd: not-a-list"}, "cloud_config", "cloud_config"),
    (
        {"instance_type": "g8.4xlarge", "gpu_model": "H100", "justification": "LLM"},
        {"instance_type": "g8.4xlarge", "gpu_model": "H100", "justification": "LLM"},
        "lease_ends_at",
        "lease_ends_at",
    ),
]


@pytest.mark.parametrize(("api_change", "form_change", "api_field", "form_field"), SAME_ANSWERS)
def test_the_api_and_the_form_give_the_same_answer(
    member, member_client, team, api_as, api_change, form_change, api_field, form_field
):
    form_response = member_client.post(reverse("vm_request"), valid_post(team, **form_change))
    api_response = api_as(member).post(VMS, document(team, **api_change))
    assert api_response.status_code == 400
    assert errors_of(api_response)[api_field] == field_errors(form_response)[form_field]
    assert not VirtualMachine.objects.exists() and not Event.objects.filter(vm__isnull=False).exists()


def test_errors_name_the_document_path_and_speak_the_callers_language(member, team, api_as):
    body = document(team, disks=[{"name": "data", "size": "10Gi"}, {"name": "Bad_Name", "size": "lots"}])
    english = errors_of(api_as(member).post(VMS, body))
    assert "disks[1].size" in english
    french = api_as(member, language="fr").post(VMS, body).json()["errors"]
    assert {error["field"] for error in french} == set(english)
    assert [error["message"] for error in french] != [m for messages in english.values() for m in messages]


@pytest.mark.parametrize(
    "body",
    [[], "text", 42, None, {"team": 5}, {"name": ["x"], "team": "ml-research"}, {"unknown": 1, "team": "ml-research"}],
)
def test_any_json_body_gets_a_400_and_writes_nothing(member, team, api_as, body):
    response = api_as(member).client.post(
        VMS, body, content_type="application/json", HTTP_AUTHORIZATION=api_as(member).headers["HTTP_AUTHORIZATION"]
    )
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not VirtualMachine.objects.exists()


def test_malformed_json_and_other_media_types_are_refused_in_json(member, api_as):
    client = api_as(member)
    bad = client.client.post(VMS, "{not json", content_type="application/json", **client.headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "parse_error"
    form = client.client.post(VMS, {"name": "x"}, **client.headers)
    assert form.status_code == 415 and form.json()["errors"][0]["code"] == "unsupported_media_type"


def test_unknown_addresses_and_methods_answer_in_json(member, api_as):
    client = api_as(member)
    missing = client.get("/api/v1/nothing-here/")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    wrong = client.client.put(VMS, {}, content_type="application/json", **client.headers)
    assert wrong.status_code == 405 and wrong.json()["errors"][0]["code"] == "method_not_allowed"


def test_the_list_filters_pages_and_refuses_unknown_filters(member, team, other_team, api_as, make_user):
    for index in range(3):
        make_vm(team=team, owner=member, name=f"vm-{index}")
    make_vm(team=other_team, owner=make_user("olga"), name="theirs")
    client = api_as(member)
    body = client.get(VMS, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert {vm["name"] for vm in client.get(VMS, {"page": 2, "page_size": 2}).json()["results"]} == {"vm-0"}
    assert client.get(VMS, {"state": "stopped"}).json()["count"] == 0
    for params, field in (
        ({"team": other_team.name}, "team"),
        ({"state": "dancing"}, "state"),
        ({"gpu_model": "V100"}, "gpu_model"),
    ):
        response = client.get(VMS, params)
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert client.get(VMS, {"page": 99}).status_code == 404


def test_the_list_costs_the_same_queries_for_any_number_of_vms(member, team, api_as, django_assert_max_num_queries):
    client = api_as(member)
    make_vm(team=team, owner=member, name="vm-40")
    client.get(VMS)  # the catalogue, read once a process
    for index in range(40):
        make_vm(team=team, owner=member, name=f"vm-{index}")
    # Token lookup, last use, membership, count, page; then the rows not in the cache yet, whole.
    with django_assert_max_num_queries(7):
        first = client.get(VMS).json()["results"]
    with django_assert_max_num_queries(6):
        again = client.get(VMS).json()["results"]
    assert len(first) == 41 and again == first


def test_a_strangers_vm_is_not_found_and_a_member_may_not_act(member, team, other_team, api_as, make_user):
    theirs = make_vm(team=other_team, owner=make_user("olga"), name="theirs")
    colleague = make_user("carol")
    team.memberships.create(user=colleague)
    mine = make_vm(team=team, owner=member, name="mine")
    assert api_as(member).get(f"{VMS}{theirs.pk}/").status_code == 404
    assert api_as(member).post(f"{VMS}{theirs.pk}/stop/").status_code == 404
    assert api_as(colleague).get(f"{VMS}{mine.pk}/").status_code == 200
    refused = api_as(colleague).post(f"{VMS}{mine.pk}/stop/")
    assert refused.status_code == 403
    assert VirtualMachine.objects.get(pk=mine.pk).state == "running"


def test_actions_move_the_vm_and_a_state_that_forbids_them_is_a_409(member, team, api_as):
    vm = make_vm(team=team, owner=member, name="mine")
    client = api_as(member)
    stopped = client.post(f"{VMS}{vm.pk}/stop/")
    assert stopped.status_code == 202 and stopped.json()["state"] == "stopping"
    again = client.post(f"{VMS}{vm.pk}/stop/")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "invalid_state"
    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped")
    assert client.post(f"{VMS}{vm.pk}/start/").json()["state"] == "starting"


def test_a_start_after_the_lease_ended_is_refused(member, team, api_as):
    vm = make_vm(team=team, owner=member, state="stopped", lease_ends_at=timezone.now() - timedelta(hours=1))
    response = api_as(member).post(f"{VMS}{vm.pk}/start/")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "lease_ended"


def test_resize_keeps_the_gpu_count_or_says_why_not(member, team, api_as):
    vm = make_vm(team=team, owner=member, state="stopped")
    client = api_as(member)
    refused = client.post(f"{VMS}{vm.pk}/resize/", {"instance_type": "g8.4xlarge"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "instance_type"
    assert client.post(f"{VMS}{vm.pk}/resize/", {"instance_type": "nope"}).status_code == 400
    assert client.post(f"{VMS}{vm.pk}/resize/", {}).json()["errors"][0]["field"] == "instance_type"
    resized = client.post(f"{VMS}{vm.pk}/resize/", {"instance_type": "g1.xlarge"})
    assert resized.status_code == 202 and resized.json()["instance_type"] == "g1.xlarge"


def test_a_lease_extension_follows_the_forms_rules(member, team, api_as):
    vm = make_vm(
        team=team,
        owner=member,
        gpu="H100",
        instance_type="g8.4xlarge",
        lease_ends_at=timezone.now() + timedelta(days=1),
    )
    client = api_as(member)
    no_reason = client.post(f"{VMS}{vm.pk}/lease/", {"lease_ends_at": in_days(3)})
    assert errors_of(no_reason) == {"justification": ["Tell the approver why you need the GPUs longer."]}
    too_far = client.post(f"{VMS}{vm.pk}/lease/", {"lease_ends_at": in_days(90), "justification": "x"})
    assert "lease_ends_at" in errors_of(too_far)
    asked = client.post(f"{VMS}{vm.pk}/lease/", {"lease_ends_at": in_days(3), "justification": "eval"})
    assert asked.status_code == 201 and asked.json()["state"] == "pending"
    twice = client.post(f"{VMS}{vm.pk}/lease/", {"lease_ends_at": in_days(4), "justification": "eval"})
    assert twice.status_code == 409
    assert ChangeRequest.objects.count() == 1


def test_delete_and_the_ssh_details_are_audited_as_in_the_browser(member, team, api_as):
    vm = make_vm(team=team, owner=member, external_ip="203.0.113.7", public_ports=[22, 8888])
    client = api_as(member)
    details = client.post(f"{VMS}{vm.pk}/connection/").json()
    assert details == {
        "host": "203.0.113.7",
        "user": "ubuntu",
        "ports": [22, 8888],
        "command": "ssh ubuntu@203.0.113.7",
    }
    assert Event.objects.filter(vm=vm, kind="access", message="Viewed the connection details").count() == 1
    deleted = client.delete(f"{VMS}{vm.pk}/")
    assert deleted.status_code == 202 and deleted.json()["state"] == "deleting"
    assert client.delete(f"{VMS}{vm.pk}/").status_code == 409


def test_the_manifests_are_the_pages_objects(member, member_client, team, api_as):
    vm = make_vm(team=team, owner=member)
    body = api_as(member).get(f"{VMS}{vm.pk}/manifests/").json()
    assert body["yaml"] == member_client.get(reverse("vm_manifests", args=[vm.pk])).content.decode()
    assert {obj["kind"] for obj in body["objects"]} >= {"VMInstance"}


def test_me_lists_teams_roles_and_quotas(member, team, api_as):
    team.quotas.create(gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    make_vm(team=team, owner=member, gpu="H100", instance_type="g2.xlarge")
    body = api_as(member).get("/api/v1/me/").json()
    assert body["teams"] == [
        {
            "name": team.name,
            "namespace": f"tenant-{team.name}",
            "role": "member",
            "quotas": [{"gpu_model": "H100", "max_gpus": 8, "used": 2}],
        }
    ]
    assert body["token"]["scope"] == "write" and body["approver"] is False


def test_the_catalogue_offers_what_the_form_offers_with_free_gpus(member, api_as):
    body = api_as(member).get("/api/v1/catalogue/").json()
    assert {"L40S", "A100", "H100"} <= {model["slug"] for model in body["gpu_models"]}
    assert all(isinstance(model["free_gpus"], int) for model in body["gpu_models"])
    assert "g1.large" in {row["name"] for row in body["instance_types"]}
    assert body["presets"] and body["storage_classes"] and body["images"]


def test_django_s_own_refusals_answer_in_json_under_api_only(member, api_as, client, settings):
    # A Host the portal does not serve is refused by Django itself, before any view.
    settings.ALLOWED_HOSTS = ["testserver"]
    refused = api_as(member).get("/api/v1/me/", HTTP_HOST="evil.example")
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "bad_request"
    page = client.get("/nothing-here/")
    assert page.status_code == 404 and "text/html" in page["Content-Type"]


def test_characters_the_database_refuses_get_a_400_not_a_500(member, team, api_as):
    client = api_as(member)
    body = {**document(team), "team": "ml\x00research"}
    assert client.post(VMS, body).json()["errors"][0]["field"] == "team"
    assert client.get(VMS, {"team": "a\x00b"}).status_code == 400
    assert ApiClient("hkp_0000\x000_secret").get("/api/v1/me/").status_code == 401


def test_after_a_refused_restart_the_api_offers_what_the_page_offers(member, member_client, team, api_as):
    vm = make_vm(team=team, owner=member, cluster_status="Running")
    Event.objects.create(kind="cluster", vm=vm, team=team, message="Restart refused", data={"restart": "refused"})
    actions = api_as(member).get(f"{VMS}{vm.pk}/").json()["actions"]
    assert "restart" not in actions and "power_cycle" in actions
    page = member_client.get(reverse("vm_detail", args=[vm.pk]))
    assert set(actions) == page.context["actions"]


def test_a_listed_vm_changed_behind_the_orms_back_is_listed_as_it_now_is(member, team, api_as):
    vm = make_vm(team=team, owner=member, name="train", cluster_status="Running")
    client = api_as(member)
    assert [row["state"] for row in client.get(VMS).json()["results"]] == ["running"]
    # A queryset update: no signal, nothing that could invalidate anything; the row's values differ.
    VirtualMachine.objects.filter(pk=vm.pk).update(state="stopped", cluster_status="Halted")
    (row,) = client.get(VMS).json()["results"]
    assert (row["state"], row["state_label"], row["cluster_status"], row["settled"]) == (
        "stopped",
        "Stopped",
        "Halted",
        True,
    )
