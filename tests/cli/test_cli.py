"""`hikube-gpu`, the command-line client, run as a user runs it (a subprocess, `python -m`)
against a live portal with its worker, beat and the development cluster, as `make run` has them."""

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.support.backend import portal_backend
from tests.support.worker import REPO
from tests.vms.factories import request_vm
from vms.governance.tokens import api_token_create
from vms.models import Membership, Team, VirtualMachine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def home(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def run(home, *arguments, stdin: str = "", timeout: float = 180) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        # The checkout's client, whatever copy the virtualenv holds.
        "PYTHONPATH": str(REPO / "cli"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [sys.executable, "-m", "hikube_gpu", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def alice(make_user):
    user = make_user("alice", "s3cret-pass")
    Membership.objects.create(team=Team.objects.create(name="ml-research"), user=user, role="manager")
    return user


def token_for(user) -> str:
    return api_token_create(
        user=user, name="cli", scope="write", expires_at=timezone.now() + timedelta(days=1)
    ).plaintext


def test_without_a_login_the_client_says_what_to_do(home):
    result = run(home, "vm", "list")
    assert result.returncode == 2
    assert "hikube-gpu login --url" in result.stderr


def test_login_refuses_a_bad_token_and_keeps_a_good_one_for_its_owner_only(home, alice, live_server):
    refused = run(home, "login", "--url", live_server.url, "--token", "-", stdin="hkp_nope_nope\n")
    assert refused.returncode == 1 and "This token is unknown, expired or revoked." in refused.stderr
    assert not (home / ".config" / "hikube-gpu" / "config.yaml").exists()

    accepted = run(home, "login", "--url", live_server.url, "--token", "-", stdin=token_for(alice) + "\n")
    assert accepted.returncode == 0, accepted.stderr
    path = home / ".config" / "hikube-gpu" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "as alice" in accepted.stdout

    bad = home / "bad.yaml"
    bad.write_text("name: Bad_Name\nsystem_disk: {size: 5Gi}\n")
    result = run(home, "vm", "create", "-f", str(bad))
    assert result.returncode == 1
    assert "error: name:" in result.stderr and "error: system_disk.size:" in result.stderr
    assert not VirtualMachine.objects.exists()


@pytest.fixture
def running_portal(tmp_path, settings, live_server):
    with portal_backend(tmp_path, settings, gpus="L40S=8", namespaces=["tenant-ml-research"], name="cli") as backend:
        yield backend.cluster


def test_create_wait_ssh_stop_and_delete(home, alice, live_server, running_portal):
    assert run(home, "login", "--url", live_server.url, "--token", "-", stdin=token_for(alice)).returncode == 0

    created = run(
        home, "vm", "create", "--preset", "inference-api", "--name", "inference-01", "--wait", "--timeout", "120"
    )
    assert created.returncode == 0, created.stderr
    assert "state: running" in created.stdout.replace("          ", "")
    # The progress display: the timeline, entry by entry, as it grows.
    assert "Requested 1× L40S on g1.large" in created.stderr and "Running" in created.stderr

    shown = json.loads(run(home, "-o", "json", "vm", "show", "inference-01").stdout)
    assert (shown["state"], shown["cluster_status"], shown["team"]) == ("running", "Running", "ml-research")
    listed = run(home, "vm", "list")
    assert "inference-01" in listed.stdout and listed.stdout.startswith("ID")

    ssh = run(home, "vm", "ssh", "inference-01")
    assert ssh.returncode == 0 and ssh.stdout.startswith("ssh ubuntu@203.0.113.")

    stopped = run(home, "-o", "json", "vm", "stop", "ml-research/inference-01", "--wait", "--timeout", "120")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["state"] == "stopped"

    deleted = run(home, "vm", "delete", str(shown["id"]), "--yes", "--wait", "--timeout", "120")
    assert deleted.returncode == 0, deleted.stderr
    assert VirtualMachine.objects.get(pk=shown["id"]).state == "deleted"
    assert run(home, "vm", "start", str(shown["id"])).returncode == 1


def test_an_approver_lists_and_decides_from_the_command_line(home, live_server, make_user, approver_and_request):
    approver, waiting = approver_and_request
    assert run(home, "login", "--url", live_server.url, "--token", "-", stdin=token_for(approver)).returncode == 0
    listed = run(home, "approvals")
    assert listed.returncode == 0
    assert [line.split()[:3] for line in listed.stdout.splitlines()[1:]] == [["vm", str(waiting.pk), "ml-research"]]
    refused = run(home, "approvals", "reject", str(waiting.pk))
    assert refused.returncode == 2 and "--reason" in refused.stderr
    approved = run(home, "-o", "json", "approvals", "approve", str(waiting.pk), "--reason", "fine")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["state"] == "approved"
    assert VirtualMachine.objects.get(pk=waiting.pk).state == "approved"
    again = run(home, "approvals", "approve", str(waiting.pk))
    assert again.returncode == 1 and "Someone already decided this request." in again.stderr


@pytest.fixture
def approver_and_request(alice, make_user):
    approver = make_user("bob")
    approver.user_permissions.add(Permission.objects.get(codename="approve_virtualmachine"))
    return approver, request_vm(alice, Team.objects.get(name="ml-research"))
