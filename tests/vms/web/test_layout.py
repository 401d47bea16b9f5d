"""The layout's parts kept by `{% memo %}` (vms.templatetags.memo): each user sees the navigation
of their own rights, in their language, with their own name and CSRF token."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _page(user, language="en") -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("home"), headers={"accept-language": language}).text


def _nav(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)">', re.search(r'<nav class="nav".*?</nav>', html, re.DOTALL)[0])


def test_each_user_sees_the_navigation_of_their_own_rights(make_user):
    plain = make_user("plain", first_name="Pat")
    approver = make_user("approver", first_name="Ana")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    admin = make_user("root", first_name="Rob", is_superuser=True, is_staff=True)
    pages = {user.username: _page(user) for user in (approver, plain, admin)}
    queue, audit, admin_site = reverse("approval_queue"), reverse("audit_log"), reverse("admin:index")
    assert queue in _nav(pages["approver"]) and audit not in _nav(pages["approver"])
    assert queue not in _nav(pages["plain"]) and admin_site not in _nav(pages["plain"])
    assert {queue, audit, admin_site, reverse("fleet")} <= set(_nav(pages["root"]))
    for name, page in (("Pat", pages["plain"]), ("Ana", pages["approver"]), ("Rob", pages["root"])):
        assert f'<span class="who">{name}</span>' in page


def test_the_kept_navigation_follows_the_language(make_user):
    user = make_user("plain")
    assert ">Virtual machines</a>" in _page(user, "en")
    french = _page(user, "fr")
    assert ">Machines virtuelles</a>" in french
    assert re.search(r'class="active"\s+title="français"', french)


def test_every_form_of_the_layout_carries_the_users_own_token(make_user):
    for username in ("first", "second"):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user(username))
        html = client.get(reverse("home")).text
        tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert len(tokens) == 2
        for token in tokens:
            response = client.post(reverse("set_language"), {"language": "en", "csrfmiddlewaretoken": token})
            assert response.status_code == 302
