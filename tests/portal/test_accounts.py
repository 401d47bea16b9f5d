import io

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_shows_teams_and_logout_ends_session(client, make_user):
    from vms.models import Membership, Team

    user = make_user("alice", "s3cret-pass")
    team = Team.objects.create(name="ml-research", display_name="ML research")
    Membership.objects.create(team=team, user=user, role=Membership.Role.MANAGER)

    response = client.post(reverse("login"), {"username": "alice", "password": "s3cret-pass"}, follow=True)
    assert response.status_code == 200
    assert b"tenant-ml-research" in response.content
    assert b"Manager" in response.content

    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("alice", "s3cret-pass")
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_language_switch_to_french(client, make_user):
    user = make_user("alice", "s3cret-pass")
    client.force_login(user)
    response = client.post(reverse("set_language"), {"language": "fr", "next": "/"}, follow=True)
    assert response.status_code == 200
    assert b'<html lang="fr">' in response.content
    assert "Vos équipes" in response.content.decode()


def test_password_reset_sends_a_link(client, make_user):
    make_user("alice", "s3cret-pass", email="alice@example.com")
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body


def test_admin_is_closed_to_non_staff(client, make_user):
    user = make_user("alice", "s3cret-pass")
    client.force_login(user)
    response = client.get("/admin/vms/team/")
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_admin_lists_teams_for_staff(admin_client):
    from vms.models import Team

    Team.objects.create(name="vision")
    response = admin_client.get("/admin/vms/team/")
    assert response.status_code == 200
    assert b"tenant-vision" in response.content


def test_seed_demo_is_idempotent(db):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from vms.management.demo import DEMO_VMS
    from vms.models import Event, Membership, Team, VirtualMachine

    call_command("seed_demo", stdout=io.StringIO())
    vms = sorted(VirtualMachine.objects.values_list("name", "state", "state_changed_at"))
    events = Event.objects.count()
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    # The demo fleet once, in its demo states (its past moves with the clock, nothing more).
    again = sorted(VirtualMachine.objects.values_list("name", "state", "state_changed_at"))
    assert [row[:2] for row in again] == [row[:2] for row in vms]
    assert len(vms) == len(DEMO_VMS) == 8
    assert {row[1] for row in vms} == {"running", "stopped", "pending_approval", "approved", "failed"}
    assert Event.objects.count() == events
    assert "alice    alice-gpu-demo" in output.getvalue()
    assert Team.objects.count() == 2
    assert Membership.objects.count() == 3
    user = get_user_model().objects.get(username="alice")
    assert user.check_password("alice-gpu-demo")
    assert get_user_model().objects.get(username="admin").is_superuser


def test_home_lists_my_vms_and_what_waits_for_an_approver(client, make_user):
    from django.contrib.auth.models import Permission

    from tests.vms.factories import make_vm
    from vms.models import Membership, Team

    user = make_user("alice", "s3cret-pass")
    team = Team.objects.create(name="ml-research")
    Membership.objects.create(team=team, user=user)
    make_vm(team=team, owner=user, name="my-training", state="running")
    make_vm(team=team, owner=user, name="big-ask", gpu="H100", state="pending_approval")
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert "my-training" in html and "big-ask" in html
    assert "waits for your decision" not in html

    user.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    html = client.get(reverse("home")).content.decode()
    assert "waits for your decision" not in html  # her own request: another approver decides it
    make_vm(team=team, owner=make_user("dan"), name="dans-ask", gpu="H100", state="pending_approval")
    html = client.get(reverse("home")).content.decode()
    assert "1 request waits for your decision." in html


def test_a_newcomers_home_page_walks_them_to_a_first_vm(client, make_user):
    from tests.vms.factories import make_vm
    from vms.models import Membership, Team

    user = make_user("alice", "s3cret-pass")
    team = Team.objects.create(name="ml-research")
    Membership.objects.create(team=team, user=user)
    client.force_login(user)
    response = client.get(reverse("home"))
    html = response.content.decode()
    assert "Your first GPU VM in three steps" in html
    steps = [step.partition("</strong>")[0] for step in html.split("<li><strong>")[1:]]
    assert steps == ["Pick a preset.", "Watch it boot.", "Read its GPU charts."]
    assert f'href="{reverse("vm_request")}?preset=inference-api">Start with “Inference API (L40S)”</a>' in html

    # The preset it offers opens the form filled in with it.
    form = client.get(f"{reverse('vm_request')}?preset=inference-api").context["form"]
    assert (form["gpu_model"].value(), form["preset"].value()) == ("L40S", "inference-api")

    make_vm(team=team, owner=user, name="first-vm", state="running")
    assert "three steps" not in client.get(reverse("home")).content.decode()


def test_someone_in_no_team_gets_no_steps_they_cannot_take(client, make_user):
    client.force_login(make_user("nobody"))
    html = client.get(reverse("home")).content.decode()
    assert "three steps" not in html
    assert "You are not in any team yet." in html
