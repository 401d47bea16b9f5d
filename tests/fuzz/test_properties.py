"""Property tests (Hypothesis) on the spec rules, the request form, the chart range form and the
query parameters of every page: no input answers with a 500, no error writes a row, and every
document the spec accepts renders manifests the upstream schemas accept (issue 12, finding 10).

The `ci` profile (tests/conftest.py) is derandomised and sized so that these tests generate
1,020 inputs in well under a minute; HYPOTHESIS_PROFILE=deep runs ten times as many, at random."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.forms import MAX_CUSTOM_RANGE, RangeForm
from tests.vms.factories import make_vm
from tests.vms.keys_and_catalogue import CATALOGUE, DEFAULTS, ED25519_KEY
from tests.vms.spec.documents import base_document
from vms.catalogue import seed
from vms.models import ChangeRequest, Event, Membership, Team, VirtualMachine
from vms.render.manifests import render_manifests, validate_against_upstream
from vms.spec.document import parse_spec_document
from vms.spec.request import API_SHAPES
from vms.spec.validation import validate_spec

# Scaled by the profile: `ci` runs these counts, `deep` ten times as many.
EXAMPLES = {"spec": 400, "request_form": 120, "range_form": 300, "chart": 80, "query": 120}
DB_SETTINGS = {"suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


def examples(name: str) -> int:
    return EXAMPLES[name] * settings().max_examples // settings.get_profile("ci").max_examples


# --- Strategies ---------------------------------------------------------------------------------

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,45}", fullmatch=True) | st.text(max_size=50)
QUANTITIES = (
    st.sampled_from(
        ["1Gi", "200Gi", "1Ti", "0.5Ti", "1.5Gi", "100", "0Gi", "-5Gi", "16Ti", "17Ti", "1e3Gi", "1P", "10G", ""]
    )
    | st.integers(-5, 10**6)
    | st.text(max_size=10)
)
STORAGE_CLASSES = st.sampled_from([item["name"] for item in seed.STORAGE_CLASSES]) | st.text(max_size=12)
SOFTWARE = st.sampled_from([block["slug"] for block in seed.SOFTWARE_BLOCKS]) | st.text(max_size=12)
CLOUD_CONFIGS = st.sampled_from(
    [
        "",
        "packages: [htop]\n",
        "#cloud-config\nruncmd: [ls]\n",
        "users: []\n",
        "x: [",
        "write_files: [{path: /etc/x, content: y}]\n",
        "- a list\n",
        "ssh_authorized_keys: [k]",
    ]
)


def maybe(valid, key: str):
    """The base document's value, another valid-looking one, junk, or the key left out."""
    return st.one_of(st.just(base_document(ED25519_KEY)[key]), valid, JUNK, st.just(None))


DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(NAMES, "name"),
        "team": maybe(st.just("research"), "team"),
        "instance_type": maybe(st.sampled_from(sorted(CATALOGUE.instance_types)), "instance_type"),
        "gpu_model": maybe(st.sampled_from(sorted(CATALOGUE.gpu_models)), "gpu_model"),
        "image": maybe(st.sampled_from(sorted(CATALOGUE.images)), "image"),
        "system_disk": maybe(
            st.fixed_dictionaries({"size": QUANTITIES, "storage_class": STORAGE_CLASSES}), "system_disk"
        ),
        "disks": maybe(
            st.lists(
                st.fixed_dictionaries({"name": NAMES, "size": QUANTITIES}, optional={"storage_class": STORAGE_CLASSES}),
                max_size=3,
            ),
            "disks",
        ),
        "public_ports": maybe(st.lists(st.integers(-1, 70_000), max_size=4), "public_ports"),
        "ssh_keys": maybe(
            st.lists(st.sampled_from([ED25519_KEY, "ssh-rsa AAAA", ""]) | st.text(max_size=20), max_size=2), "ssh_keys"
        ),
        "software": maybe(st.lists(SOFTWARE, max_size=4), "software"),
        "cloud_config": maybe(CLOUD_CONFIGS, "cloud_config"),
        "network": maybe(st.sampled_from(["gpu-interconnect", "", "other"]), "network"),
        "justification": maybe(st.text(max_size=40), "justification"),
        "unknown_key": JUNK,
    },
).map(lambda document: {**{"name": "train-1", "team": "research"}, **document})


# --- The spec rules -----------------------------------------------------------------------------


@settings(max_examples=examples("spec"))
@given(document=DOCUMENTS, api_shape=st.sampled_from(API_SHAPES))
def test_every_document_is_judged_and_every_accepted_one_renders_valid_manifests(document, api_shape):
    spec, errors = parse_spec_document(document, defaults=DEFAULTS)
    if errors:
        assert spec is None and all(messages for messages in errors.values())
        return
    result = validate_spec(spec, catalogue=CATALOGUE, api_shape=api_shape)
    if result.errors:
        return
    objects = render_manifests(spec, catalogue=CATALOGUE, namespace="tenant-research", vm_id=7, api_shape=api_shape)
    for obj in objects:
        assert validate_against_upstream(obj) == [], (document, obj)


# --- The chart range form -----------------------------------------------------------------------

DATETIMES = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M")) | st.text(max_size=20)


@settings(max_examples=examples("range_form"))
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "range": st.sampled_from(["1h", "6h", "24h", "7d", "custom"]) | st.text(max_size=8),
            "start": DATETIMES,
            "end": DATETIMES,
        },
    )
)
def test_the_chart_range_is_always_a_sane_window(data):
    now = timezone.now()
    form = RangeForm(data, now=now)
    chart_range = form.chart_range()
    assert chart_range.start < chart_range.end <= now + timedelta(minutes=5)
    assert chart_range.end - chart_range.start <= MAX_CUSTOM_RANGE


# --- Pages: no 500, no row written on an error --------------------------------------------------


def logged_in(user, headers=None) -> Client:
    client = Client(headers=headers)
    client.force_login(user)
    return client


@pytest.fixture
def world(make_user, settings):
    """A team manager's and an admin's signed-in clients (logged in once: each example then only
    costs its request) and the manager's VM."""
    settings.PROMETHEUS_URL = ""
    team = Team.objects.create(name="research")
    member = make_user("alice")
    Membership.objects.create(team=team, user=member, role=Membership.Role.MANAGER)
    admin = make_user("root", is_superuser=True, is_staff=True)
    vm = make_vm(team=team, owner=member, name="train-1", external_ip="203.0.113.7")
    htmx = {"HX-Request": "true"}
    return {
        "member": logged_in(member),
        "admin": logged_in(admin),
        "member_htmx": logged_in(member, htmx),
        "admin_htmx": logged_in(admin, htmx),
        "vm": vm,
    }


def rows() -> tuple[int, int, int]:
    return VirtualMachine.objects.count(), Event.objects.count(), ChangeRequest.objects.count()


def answer(client, method, url, data):
    """The response, inside a savepoint rolled back afterwards, and whether rows changed."""
    with transaction.atomic():
        before = rows()
        response = getattr(client, method)(url, data)
        changed = rows() != before
        transaction.set_rollback(True)
    return response, changed


FORM_VALUES = st.text(max_size=30) | st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1",
        "10",
        "99999999999999999999",
        "g1.large",
        "L40S",
        "H100",
        "ubuntu",
        "replicated",
        "research",
        "train-2",
        "2099-01-01T10:00",
        ED25519_KEY,
        "22, 80",
        "submit",
    ]
)
REQUEST_FIELDS = [
    "team",
    "preset",
    "name",
    "instance_type",
    "gpu_model",
    "image",
    "system_disk_size",
    "system_disk_class",
    "disk_name",
    "disk_size",
    "disk_class",
    "public_ports",
    "ssh_keys",
    "software",
    "cloud_config",
    "network",
    "justification",
    "lease_ends_at",
    "action",
]


@settings(max_examples=examples("request_form"), **DB_SETTINGS)
@given(data=st.dictionaries(st.sampled_from(REQUEST_FIELDS), st.lists(FORM_VALUES, min_size=1, max_size=3)))
def test_the_request_form_never_fails_and_writes_only_a_valid_request(world, data):
    response, changed = answer(world["member"], "post", reverse("vm_request"), data)
    assert response.status_code in (200, 302, 422)
    if response.status_code != 302:
        assert not changed, (data, response.status_code)


@settings(max_examples=examples("chart"), **DB_SETTINGS)
@given(
    key=st.sampled_from(["gpu_util", "power", "fb_used", "nope"]),
    params=st.dictionaries(st.sampled_from(["range", "start", "end", "width"]), DATETIMES | FORM_VALUES),
)
def test_chart_panels_answer_any_range(world, key, params):
    response, changed = answer(world["member"], "get", reverse("vm_gpu_panel", args=[world["vm"].pk, key]), params)
    assert response.status_code in (200, 404, 503) and not changed


QUERY_KEYS = [
    "range",
    "start",
    "end",
    "width",
    "page",
    "poll",
    "preset",
    "sort",
    "dir",
    "format",
    "table",
    "team",
    "state",
    "gpu_model",
    "mine",
    "month",
    "kind",
    "actor",
    "q",
    "since",
    "until",
    "x",
]
PAGES = [
    "home",
    "vm_list",
    "vm_request",
    "vm_detail",
    "vm_gpus",
    "vm_gpu_energy",
    "vm_manifests",
    "fleet",
    "gpu_hours",
    "audit_log",
    "approval_queue",
    "login",
]


@settings(max_examples=examples("query"), **DB_SETTINGS)
@given(
    page=st.sampled_from(PAGES),
    params=st.dictionaries(st.sampled_from(QUERY_KEYS), FORM_VALUES | DATETIMES),
    htmx=st.booleans(),
)
def test_no_query_parameter_breaks_a_page(world, page, params, htmx):
    client = world[("admin" if page in ("audit_log", "approval_queue") else "member") + ("_htmx" if htmx else "")]
    url = (
        reverse(page, args=[world["vm"].pk])
        if page.startswith("vm_") and page not in ("vm_list", "vm_request")
        else reverse(page)
    )
    response, changed = answer(client, "get", url, params)
    assert response.status_code in (200, 286, 302, 422), (page, params, response.status_code)
    if page != "vm_manifests":  # reading another team's manifests is audited; here the reader is a manager
        assert not changed
