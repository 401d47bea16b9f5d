"""Every URL of the portal (the Django admin aside) for every role, GET and POST, compared with
the table below; a URL without a row fails (issue 12, finding 9).

Roles: anonymous; `stranger`, a member of another team; `reader`, signed in but in no team;
`viewer`, the reader role in the VM's team (the identity provider's tenant-X-view); `member`, a
member of the VM's team who does not own it; `owner`, the member who owns it; `manager`, the
team's manager; `approver`, the approve permission and no team; `staff`, is_staff and no
permission; `superuser`. Object ids are real: a running VM with a public IP and a pending lease
extension, and a request waiting for approval, all of the team `alpha`, owned by `owner`. Each
cell runs in a savepoint rolled back afterwards, so no cell sees another's writes."""

import copy
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.vms.factories import make_vm
from vms.governance.tokens import api_token_create
from vms.models import ChangeRequest, Membership, Team

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "stranger", "reader", "viewer", "member", "owner", "manager", "approver", "staff", "superuser")

# route: (GET, POST), one code per role:
#      anonymous stranger reader viewer member owner manager approver staff superuser
EXPECTED = {
    "": ("302 200 200 200 200 200 200 200 200 200", "302 200 200 200 200 200 200 200 200 200"),
    "accounts/login/": ("200 302 302 302 302 302 302 302 302 302", "200 302 302 302 302 302 302 302 302 302"),
    "accounts/logout/": ("405 405 405 405 405 405 405 405 405 405", "302 302 302 302 302 302 302 302 302 302"),
    "accounts/password_change/": ("302 200 200 200 200 200 200 200 200 200", "302 200 200 200 200 200 200 200 200 200"),
    "accounts/password_change/done/": (
        "302 200 200 200 200 200 200 200 200 200",
        "302 405 405 405 405 405 405 405 405 405",
    ),
    "accounts/password_reset/": ("200 200 200 200 200 200 200 200 200 200", "200 200 200 200 200 200 200 200 200 200"),
    "accounts/password_reset/done/": (
        "200 200 200 200 200 200 200 200 200 200",
        "405 405 405 405 405 405 405 405 405 405",
    ),
    "accounts/reset/<uidb64>/<token>/": (
        "200 200 200 200 200 200 200 200 200 200",
        "200 200 200 200 200 200 200 200 200 200",
    ),
    "accounts/reset/done/": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    # The API answers 401 (not a redirect) without credentials; the test client's POST carries a
    # form body, which the API, JSON only, refuses with 415 once access is granted.
    "account/tokens/": ("302 200 200 200 200 200 200 200 200 200", "302 200 200 200 200 200 200 200 200 200"),
    "account/tokens/<int:token_id>/revoke/": (
        "302 405 405 405 405 405 405 405 405 405",
        "302 302 302 302 302 302 302 302 302 302",
    ),
    "api/v1/approvals/": ("401 403 403 403 403 403 403 200 403 200", "401 405 405 405 405 405 405 405 405 405"),
    "api/v1/approvals/changes/<int:change_id>/approve/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 403 403 403 403 403 403 415 403 415",
    ),
    "api/v1/approvals/changes/<int:change_id>/reject/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 403 403 403 403 403 403 415 403 415",
    ),
    "api/v1/approvals/vms/<int:vm_id>/approve/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 403 403 403 403 403 403 415 403 415",
    ),
    "api/v1/approvals/vms/<int:vm_id>/reject/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 403 403 403 403 403 403 415 403 415",
    ),
    "api/v1/catalogue/": ("401 200 200 200 200 200 200 200 200 200", "401 405 405 405 405 405 405 405 405 405"),
    "api/v1/docs/": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    "api/v1/me/": ("401 200 200 200 200 200 200 200 200 200", "401 405 405 405 405 405 405 405 405 405"),
    "api/v1/redoc/": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    "api/v1/schema/": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    "api/v1/vms/": ("401 200 200 200 200 200 200 200 200 200", "401 415 415 415 415 415 415 415 415 415"),
    "api/v1/vms/<int:vm_id>/": ("401 404 404 200 200 200 200 200 404 200", "401 405 405 405 405 405 405 405 405 405"),
    "api/v1/vms/<int:vm_id>/connection/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 200 200 200 200 404 200",
    ),
    "api/v1/vms/<int:vm_id>/gpus/": (
        "401 404 404 503 503 503 503 503 404 503",
        "401 405 405 405 405 405 405 405 405 405",
    ),
    "api/v1/vms/<int:vm_id>/lease/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 415 415 403 404 415",
    ),
    "api/v1/vms/<int:vm_id>/manifests/": (
        "401 404 404 403 200 200 200 200 404 200",
        "401 405 405 405 405 405 405 405 405 405",
    ),
    "api/v1/vms/<int:vm_id>/power-cycle/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 202 202 403 404 202",
    ),
    "api/v1/vms/<int:vm_id>/resize/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 415 415 403 404 415",
    ),
    "api/v1/vms/<int:vm_id>/restart/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 202 202 403 404 202",
    ),
    "api/v1/vms/<int:vm_id>/retry/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 409 409 403 404 409",
    ),
    "api/v1/vms/<int:vm_id>/start/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 409 409 403 404 409",
    ),
    "api/v1/vms/<int:vm_id>/stop/": (
        "401 405 405 405 405 405 405 405 405 405",
        "401 404 404 403 403 202 202 403 404 202",
    ),
    "healthz": ("200 200 200 200 200 200 200 200 200 200", "200 200 200 200 200 200 200 200 200 200"),
    "livez": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    # The test client calls from loopback, and the tests set no METRICS_TOKEN.
    "metrics": ("200 200 200 200 200 200 200 200 200 200", "405 405 405 405 405 405 405 405 405 405"),
    "i18n/setlang/": ("302 302 302 302 302 302 302 302 302 302", "302 302 302 302 302 302 302 302 302 302"),
    "monitoring/fleet/": ("302 403 403 403 403 403 200 403 403 200", "302 403 403 403 403 403 200 403 403 200"),
    "monitoring/gpu-hours/": ("302 403 403 403 403 403 200 403 403 200", "302 403 403 403 403 403 200 403 403 200"),
    "vms/": ("302 200 200 200 200 200 200 200 200 200", "302 200 200 200 200 200 200 200 200 200"),
    "vms/<int:vm_id>/": ("302 404 404 200 200 200 200 200 404 200", "302 404 404 200 200 200 200 200 404 200"),
    "vms/<int:vm_id>/actions/<slug:action>/": (
        "302 405 405 405 405 405 405 405 405 405",
        "302 404 404 403 403 302 302 403 404 302",
    ),
    "vms/<int:vm_id>/connection/": (
        "302 405 405 405 405 405 405 405 405 405",
        "302 404 404 403 200 200 200 200 404 200",
    ),
    "vms/<int:vm_id>/delete/": ("302 405 405 405 405 405 405 405 405 405", "302 404 404 403 403 302 302 403 404 302"),
    "vms/<int:vm_id>/gpus/": ("302 404 404 200 200 200 200 200 404 200", "302 404 404 200 200 200 200 200 404 200"),
    "vms/<int:vm_id>/gpus/energy/": (
        "302 404 404 200 200 200 200 200 404 200",
        "302 404 404 200 200 200 200 200 404 200",
    ),
    "vms/<int:vm_id>/gpus/panels/<slug:key>/": (
        "302 404 404 503 503 503 503 503 404 503",
        "302 404 404 503 503 503 503 503 404 503",
    ),
    "vms/<int:vm_id>/lease/": ("302 405 405 405 405 405 405 405 405 405", "302 404 404 403 403 302 302 403 404 302"),
    "vms/<int:vm_id>/manifests.yaml": (
        "302 404 404 403 200 200 200 200 404 200",
        "302 404 404 403 200 200 200 200 404 200",
    ),
    "vms/<int:vm_id>/resize/": ("302 405 405 405 405 405 405 405 405 405", "302 404 404 403 403 302 302 403 404 302"),
    "vms/approvals/": ("302 403 403 403 403 403 403 200 403 200", "302 403 403 403 403 403 403 200 403 200"),
    "vms/approvals/change/<int:change_id>/": (
        "302 405 405 405 405 405 405 405 405 405",
        "302 403 403 403 403 403 403 302 403 302",
    ),
    "vms/approvals/vm/<int:vm_id>/": (
        "302 405 405 405 405 405 405 405 405 405",
        "302 403 403 403 403 403 403 302 403 302",
    ),
    "vms/audit/": ("302 403 403 403 403 403 403 403 403 200", "302 403 403 403 403 403 403 403 403 200"),
    "vms/new/": ("302 200 200 200 200 200 200 200 200 200", "302 200 200 200 200 200 200 200 200 200"),
    "vms/new/manifests/": ("302 405 405 405 405 405 405 405 405 405", "302 422 422 422 422 422 422 422 422 422"),
    "vms/new/summary/": ("302 405 405 405 405 405 405 405 405 405", "302 200 200 200 200 200 200 200 200 200"),
    # Single sign-on is off in this table; tests/portal/test_sso.py turns it on.
    "oidc/authenticate/": ("404 404 404 404 404 404 404 404 404 404", "405 405 405 405 405 405 405 405 405 405"),
    "oidc/callback/": ("404 404 404 404 404 404 404 404 404 404", "405 405 405 405 405 405 405 405 405 405"),
}


def routes() -> dict[str, str]:
    """{route: url name} of every pattern in the URLconf, the admin's aside."""
    found = {}

    def walk(resolver, prefix):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                if str(entry.pattern) != "admin/":
                    walk(entry, prefix + str(entry.pattern))
            else:
                found.setdefault(prefix + str(entry.pattern), entry.name)

    walk(get_resolver(), "")
    return found


@pytest.fixture
def world(make_user, settings):
    settings.PROMETHEUS_URL = ""
    team = Team.objects.create(name="alpha")
    other = Team.objects.create(name="beta")
    users = {"anonymous": None}
    users["stranger"] = make_user("stranger")
    Membership.objects.create(team=other, user=users["stranger"])
    users["reader"] = make_user("reader")
    users["viewer"] = make_user("viewer")
    Membership.objects.create(team=team, user=users["viewer"], role=Membership.Role.READER)
    for role, membership in (
        ("member", Membership.Role.MEMBER),
        ("owner", Membership.Role.MEMBER),
        ("manager", Membership.Role.MANAGER),
    ):
        users[role] = make_user(role)
        Membership.objects.create(team=team, user=users[role], role=membership)
    users["approver"] = make_user("approver")
    users["approver"].user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    users["staff"] = make_user("staff", is_staff=True)
    users["superuser"] = make_user("superuser", is_staff=True, is_superuser=True)
    running = make_vm(
        team=team,
        owner=users["owner"],
        name="running",
        gpu="H100",
        external_ip="203.0.113.7",
        public_ports=[22],
        lease_ends_at=timezone.now() + timedelta(days=2),
    )
    change = ChangeRequest.objects.create(
        vm=running,
        kind=ChangeRequest.Kind.EXTEND_LEASE,
        requested_by=users["owner"],
        lease_ends_at=timezone.now() + timedelta(days=5),
    )
    waiting = make_vm(team=team, owner=users["owner"], name="waiting", gpu="H100", state="pending_approval")
    token = api_token_create(
        user=users["owner"], name="matrix", scope="write", expires_at=timezone.now() + timedelta(days=1)
    ).token
    arguments = {
        "token_id": token.pk,
        "vm_id": running.pk,
        "change_id": change.pk,
        "action": "restart",
        "key": "gpu_util",
        "uidb64": "MQ",
        "token": "set-password",
    }
    on_request = {"vm_id": waiting.pk}
    return (
        users,
        arguments,
        {"approval_decide_vm": on_request, "api_vm_approve": on_request, "api_vm_reject": on_request},
    )


def url_for(name: str, route: str, arguments: dict, overrides: dict) -> str:
    names = [part.partition(">")[0].split(":")[-1] for part in route.split("<")[1:]]
    kwargs = {key: overrides.get(name, {}).get(key, arguments[key]) for key in names}
    return reverse(name, kwargs=kwargs)


def status(client, method: str, url: str) -> int:
    """The status of one request, whose writes are undone: the next cell sees the same world,
    and the client the same session (a logout or a login answered here changes the cookie)."""
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        response = getattr(client, method)(url)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response.status_code


def test_every_url_answers_each_role_as_the_table_says(world):
    users, arguments, overrides = world
    # One signed-in client per role, for every cell: a login per cell cost more than the cell.
    clients = {role: Client() for role in ROLES}
    for role, client in clients.items():
        if users[role] is not None:
            client.force_login(users[role])
    found = routes()
    observed, mismatches = {}, []
    for route, name in sorted(found.items()):
        url = url_for(name, route, arguments, overrides)
        codes = tuple(" ".join(str(status(clients[role], method, url)) for role in ROLES) for method in ("get", "post"))
        observed[route] = codes
        if EXPECTED.get(route) != codes:
            mismatches.append(f"    {route!r}: {codes!r},  # expected {EXPECTED.get(route)!r}")
    assert set(EXPECTED) <= set(found), f"rows for URLs that no longer exist: {sorted(set(EXPECTED) - set(found))}"
    assert not mismatches, "role matrix differs (routes without a row fail too):\n" + "\n".join(mismatches)
    cells = len(observed) * len(ROLES) * 2
    print(f"checked {cells} cells: {len(observed)} URLs × {len(ROLES)} roles × GET and POST")
