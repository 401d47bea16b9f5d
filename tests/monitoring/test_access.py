"""Who may see a VM's GPU page, the fleet and the GPU-hours report."""

import pytest
from django.urls import reverse

from tests.monitoring import dcgm_fixtures as fx
from vms.models import Membership

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]


def test_strangers_get_404_on_another_teams_gpu_pages(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["beta"])
    vm = world["vms"][fx.TRAINING]  # team alpha
    for url in (
        reverse("vm_gpus", args=[vm.pk]),
        reverse("vm_gpu_panel", args=[vm.pk, "gpu_util"]),
        reverse("vm_gpu_energy", args=[vm.pk]),
        reverse("vm_gpus", args=[987654]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("vm_gpu_panel", args=[world["vms"][fx.IDLE].pk, "nonsense"])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, world):
    response = client.get(reverse("vm_gpus", args=[world["vms"][fx.TRAINING].pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("fleet")).status_code == 302


def test_data_scientists_cannot_see_the_fleet(client, settings, world):
    settings.PROMETHEUS_URL = ""
    client.force_login(world["owners"]["alpha"])  # a plain member
    assert client.get(reverse("fleet")).status_code == 403
    assert client.get(reverse("fleet"), {"format": "csv"}).status_code == 403
    assert client.get(reverse("gpu_hours")).status_code == 403
    assert "GPU fleet" not in client.get(reverse("vm_list")).content.decode()


def test_managers_see_their_team_only_admins_see_all(client, settings, world, make_user):
    settings.PROMETHEUS_URL = ""
    manager = make_user("maud")
    Membership.objects.create(team=world["teams"]["beta"], user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)
    html = client.get(reverse("fleet")).content.decode()
    assert "inference-api" in html and "notebook-idle" in html
    assert "llm-train" not in html and "exporter-down" not in html
    assert 'name="team"' not in html  # one team: nothing to filter by
    other = client.get(reverse("fleet"), {"team": world["teams"]["alpha"].pk}).content.decode()
    assert "llm-train" not in other
    assert "GPU fleet" in client.get(reverse("vm_list")).content.decode()

    client.force_login(make_user("root", is_superuser=True))
    html = client.get(reverse("fleet")).content.decode()
    assert all(name in html for _, name in world["vms"])


def test_the_team_filter_offers_the_teams_one_manages_and_keeps_the_chosen_one(client, settings, world, make_user):
    settings.PROMETHEUS_URL = ""
    teams = world["teams"]
    manager = make_user("maud")
    for name in ("alpha", "beta"):
        Membership.objects.create(team=teams[name], user=manager, role=Membership.Role.MANAGER)
    Membership.objects.create(team=teams["gamma"], user=manager, role=Membership.Role.MEMBER)
    client.force_login(manager)
    html = client.get(reverse("fleet"), {"team": teams["beta"].pk}).content.decode()
    assert f'<option value="{teams["beta"].pk}" selected>beta</option>' in html
    assert f'<option value="{teams["alpha"].pk}">alpha</option>' in html
    assert f'value="{teams["gamma"].pk}"' not in html
