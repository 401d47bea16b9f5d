"""Single sign-on against a real, certified OpenID provider (node-oidc-provider) on loopback:
the authorization code flow with PKCE through its own login page, teams and roles from the
groups claim at every sign-in, every refusal on a clear page with nothing written, and logout."""

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from tests.support.oidc_provider import OidcProvider, account, client
from vms.models import Event, Membership, OidcIdentity, Team
from vms.web.oidc import OidcBackend, SignInRefused

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "portal-secret-for-tests"
CAPTURE_GROUPS = ["tenant-alpha-use", "tenant-beta-view", "/tenant-gamma-admin", "hpc-approvers", "unrelated"]


def sso_settings(settings, provider_url: str, *, local_login: bool = False):
    settings.OIDC_PROVIDER_URL = provider_url
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_APPROVER_GROUPS = ["hpc-approvers"]
    settings.OIDC_ADMIN_GROUPS = ["platform-admins"]
    settings.OIDC_CREATE_TEAMS = False
    settings.LOCAL_LOGIN = local_login
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "vms.web.oidc.OidcBackend",
        *(["django.contrib.auth.backends.ModelBackend"] if local_login else []),
    ]


@pytest.fixture
def provider(tmp_path, live_server, settings):
    accounts = {
        "ada": account(groups=CAPTURE_GROUPS, email="ada@example.org", name="Ada Lovelace"),
        "nogroups": account(groups=None, email="no@example.org", name="No Groups"),
    }
    clients = [
        client("portal", SECRET, portal_url=live_server.url),
        client("other", "other-secret", portal_url=live_server.url),
    ]
    with OidcProvider(tmp_path / "op", clients=clients, accounts=accounts) as op:
        sso_settings(settings, op.url)
        yield op


def sign_in(portal_url: str, login: str, *, session: requests.Session | None = None) -> requests.Response:
    """The whole flow as a browser makes it, over HTTP: the portal's SSO link, the provider's
    login form, and back to the portal's callback."""
    session = session or requests.Session()
    page = session.get(f"{portal_url}/oidc/authenticate/", timeout=10)
    form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert form, page.text[:500]
    return session.post(
        urljoin(page.url, form.group(1)), data={"prompt": "login", "login": login, "password": "any"}, timeout=10
    )


def test_sign_in_sets_teams_and_roles_from_the_groups(provider, live_server):
    answer = sign_in(live_server.url, "ada")
    assert answer.status_code == 200 and urlsplit(answer.url).path == "/", answer.text[:300]
    user = get_user_model().objects.get(username="ada")
    roles = {m.team.name: (m.role, m.source) for m in Membership.objects.filter(user=user).select_related("team")}
    assert roles == {"alpha": ("member", "oidc"), "beta": ("reader", "oidc"), "gamma": ("manager", "oidc")}
    assert not Team.objects.get(name="alpha").active  # created disabled: an admin enables it
    assert user.has_perm("vms.approve_virtualmachine") and not user.is_superuser
    assert OidcIdentity.objects.get(user=user).subject == "ada"
    assert not user.has_usable_password()


def test_groups_changed_at_the_provider_apply_at_the_next_sign_in(provider, live_server):
    sign_in(live_server.url, "ada")
    user = get_user_model().objects.get(username="ada")
    delta = Team.objects.create(name="delta")
    Membership.objects.create(user=user, team=delta, role="member")  # made by hand in the admin
    provider.set_groups("ada", ["tenant-alpha-admin"])

    assert urlsplit(sign_in(live_server.url, "ada").url).path == "/"
    roles = {m.team.name: (m.role, m.source) for m in Membership.objects.filter(user=user).select_related("team")}
    assert roles == {"alpha": ("manager", "oidc"), "delta": ("member", "manual")}
    user = get_user_model().objects.get(pk=user.pk)
    assert not user.has_perm("vms.approve_virtualmachine")
    said = set(Event.objects.filter(kind="admin", actor=user).values_list("message", flat=True))
    assert "%(user)s left %(team)s: no longer in its identity provider groups" in said
    assert "%(user)s is now %(role)s of %(team)s (was %(old)s), from the identity provider" in said
    assert "%(user)s is no longer %(role)s, from the identity provider" in said


def test_a_missing_groups_claim_is_refused_and_writes_nothing(provider, live_server):
    answer = sign_in(live_server.url, "nogroups")
    assert answer.status_code == 403 and "data-sso-refused" in answer.text
    assert "sent no “groups” claim" in answer.text
    assert not get_user_model().objects.exists() and not Event.objects.exists()
    # Nor does the session keep the refused sign-in's token.
    assert not any("oidc_id_token" in s.get_decoded() for s in Session.objects.all())


def test_a_replayed_callback_is_refused(provider, live_server):
    session = requests.Session()
    page = session.get(f"{live_server.url}/oidc/authenticate/", timeout=10)
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    answer = session.post(
        urljoin(page.url, action),
        data={"prompt": "login", "login": "ada", "password": "x"},
        timeout=10,
        allow_redirects=False,
    )
    while not answer.headers["Location"].startswith(f"{live_server.url}/oidc/callback/"):
        answer = session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]
    assert session.get(callback, timeout=10).url == f"{live_server.url}/"
    written = Event.objects.count()
    for replayer in (session, requests.Session()):
        replay = replayer.get(callback, timeout=10)
        assert replay.status_code == 403 and "data-sso-refused" in replay.text
    assert Event.objects.count() == written


def test_an_expired_token_is_refused(tmp_path, live_server, settings):
    accounts = {"ada": account(groups=CAPTURE_GROUPS, email="ada@example.org")}
    clients = [client("portal", SECRET, portal_url=live_server.url)]
    # The provider's clock runs five minutes behind and its ID tokens last one: they expired
    # before they were issued (its cookies, lasting longer, still work).
    with OidcProvider(
        tmp_path / "late", clients=clients, accounts=accounts, id_token_ttl=60, clock_offset="-5m"
    ) as late:
        sso_settings(settings, late.url)
        answer = sign_in(live_server.url, "ada")
    assert answer.status_code == 403 and "token has expired" in answer.text
    assert not get_user_model().objects.exists() and not Event.objects.exists()


def id_token_from(provider, client_id: str, secret: str, redirect_uri: str, login: str) -> tuple[str, str]:
    """A real ID token the provider issues to `client_id`, through the code flow with PKCE."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce = secrets.token_urlsafe(16)
    session = requests.Session()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email profile groups",
        "state": "state",
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = session.get(f"{provider.url}/auth?{urlencode(query)}", timeout=10)
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    answer = session.post(
        urljoin(page.url, action),
        data={"prompt": "login", "login": login, "password": "x"},
        allow_redirects=False,
        timeout=10,
    )
    while not answer.headers["Location"].startswith(redirect_uri):
        answer = session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = session.post(
        f"{provider.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
        timeout=10,
    ).json()
    return tokens["id_token"], nonce


def test_a_token_for_another_client_or_with_a_forged_signature_is_refused(provider, live_server):
    redirect_uri = f"{live_server.url}/oidc/callback/"
    backend = OidcBackend()
    good, nonce = id_token_from(provider, "portal", SECRET, redirect_uri, "ada")
    assert backend.verify_token(good, nonce=nonce)["sub"] == "ada"

    elsewhere, nonce = id_token_from(provider, "other", "other-secret", redirect_uri, "ada")
    with pytest.raises(SignInRefused, match="issued to another application"):
        backend.verify_token(elsewhere, nonce=nonce)

    header, payload, signature = good.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            json.dumps({**json.loads(base64.urlsafe_b64decode(payload + "==")), "sub": "admin"}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(SignInRefused, match="signature"):
        backend.verify_token(f"{header}.{forged_payload}.{signature}", nonce=nonce)
    assert not get_user_model().objects.exists()


def test_logout_ends_the_session_at_the_provider_too(provider, live_server):
    session = requests.Session()
    sign_in(live_server.url, "ada", session=session)
    home = session.get(f"{live_server.url}/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
    out = session.post(
        f"{live_server.url}/accounts/logout/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{live_server.url}/"},
        allow_redirects=False,
        timeout=10,
    )
    end_session = urlsplit(out.headers["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}" == provider.url
    assert parse_qs(end_session.query)["post_logout_redirect_uri"] == [f"{live_server.url}/accounts/login/"]
    confirm = session.get(out.headers["Location"], timeout=10)
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', confirm.text, re.S)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    back = session.post(urljoin(confirm.url, form.group(1)), data={**fields, "logout": "yes"}, timeout=10)
    assert urlsplit(back.url).path == "/accounts/login/"
    assert session.get(f"{live_server.url}/", allow_redirects=False, timeout=10).status_code == 302
    # Signed out at the provider as well: the next sign-in asks for the login again.
    again = session.get(f"{live_server.url}/oidc/authenticate/", timeout=10)
    assert 'name="login"' in again.text


def test_local_accounts_only_when_allowed_and_the_page_says_so(provider, live_server, settings, client, make_user):
    make_user("root", "break-glass-pw", is_superuser=True, is_staff=True)
    page = client.get("/accounts/login/").content.decode()
    assert 'id="sso-login"' in page and 'name="password"' not in page
    refused = client.post("/accounts/login/", {"username": "root", "password": "break-glass-pw"})
    assert refused.status_code == 403 and "Local accounts are turned off" in refused.content.decode()

    sso_settings(settings, provider.url, local_login=True)
    page = client.get("/accounts/login/").content.decode()
    assert "break-glass administrators" in page and 'name="password"' in page
    assert client.post("/accounts/login/", {"username": "root", "password": "break-glass-pw"}).status_code == 302


def test_teams_may_be_created_enabled(provider, live_server, settings):
    settings.OIDC_CREATE_TEAMS = True
    sign_in(live_server.url, "ada")
    assert Team.objects.get(name="gamma").active
