"""Schemathesis fuzzes every operation of the API from its own OpenAPI document: whatever it
sends, the portal never answers 500, and every answer is one the document describes (status,
content type, body)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from hikube_portal.wsgi import application
from tests.vms.api.conftest import bearer
from tests.vms.factories import make_vm, request_vm

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def in_process(db):
    # As Django's test client does: a request's end must not close the connection that holds
    # the test's transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def token(in_process, member, approver, team):
    # Real objects for the ids the fuzzer may hit: a running VM, a request waiting for approval.
    make_vm(team=team, owner=member, name="fuzz-running", external_ip="203.0.113.9", public_ports=[22])
    request_vm(member, team, name="fuzz-waiting")
    approver_token = bearer(approver)
    return bearer(member), approver_token


schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_answer_is_a_500_or_off_the_document(case, token):
    member_token, approver_token = token
    who = approver_token if case.path.startswith("/api/v1/approvals") else member_token
    case.call_and_validate(headers={"Authorization": f"Bearer {who}"}, checks=CHECKS)
