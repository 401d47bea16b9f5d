"""The idle-GPU policy: a warning, then a stop, against a real Prometheus."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from monitoring.idle import check_idle_gpus
from monitoring.models import IdleStatus
from tests.monitoring import dcgm_fixtures as fx
from tests.monitoring.expected import at, expected_average
from vms.models import Event, VirtualMachine

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]
REL = 1e-9


def test_idle_policy_warns_once_then_withdraws(
    live_settings, fleet, gateway, world, django_capture_on_commit_callbacks
):
    now = at(fleet.query_time)
    idle_vm = world["vms"][fx.IDLE]
    with django_capture_on_commit_callbacks(execute=True):
        assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 1, "cleared": 0, "stopped": 0}
    status = IdleStatus.objects.get()
    assert status.vm_id == idle_vm.pk and status.warned_at == now
    assert status.average_percent == pytest.approx(expected_average(fleet, fx.IDLE, 86400), rel=REL)
    (event,) = Event.objects.filter(kind=Event.Kind.USAGE)
    assert event.vm_id == idle_vm.pk and "the owner was warned" in event.text
    assert [message.to for message in mail.outbox] == [["bob@example.org"]]
    assert "notebook-idle" in mail.outbox[0].subject
    assert f"http://127.0.0.1:8000/vms/{idle_vm.pk}/gpus/" in mail.outbox[0].body

    # The next pass finds it still idle: no second warning.
    with django_capture_on_commit_callbacks(execute=True):
        assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 0, "cleared": 0, "stopped": 0}
    assert len(mail.outbox) == 1

    # A lower bar makes the same GPUs busy: the warning is withdrawn, in the audit trail too.
    live_settings.IDLE_GPU_THRESHOLD_PERCENT = 0.001
    assert check_idle_gpus(now=now, gateway=gateway) == {"warned": 0, "cleared": 1, "stopped": 0}
    assert not IdleStatus.objects.exists()
    assert "idle warning withdrawn" in Event.objects.filter(kind=Event.Kind.USAGE).first().text


def test_idle_banner_on_the_gpu_page(client, live_settings, fleet, gateway, world):
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    client.force_login(world["owners"]["beta"])
    assert "have been idle since" in client.get(reverse("vm_gpus", args=[world["vms"][fx.IDLE].pk])).content.decode()
    busy = client.get(reverse("vm_gpus", args=[world["vms"][fx.INFERENCE].pk])).content.decode()
    assert "have been idle since" not in busy


def test_stopped_vms_leave_the_idle_policy(live_settings, fleet, gateway, world):
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    VirtualMachine.objects.filter(pk=world["vms"][fx.IDLE].pk).update(state="stopped")
    check_idle_gpus(now=at(fleet.query_time), gateway=gateway)
    assert not IdleStatus.objects.exists()


def test_panel_json_is_valid_json_without_nan(client, live_settings, world):
    client.force_login(world["owners"]["alpha"])
    body = client.get(
        reverse("vm_gpu_panel", args=[world["vms"][fx.TRAINING].pk, "fb_used_percent"]), {"range": "24h"}
    ).content.decode()
    assert "NaN" not in body
    assert json.loads(body)["unit"] == "%"


def test_idle_policy_stops_the_vm_after_the_grace_period(
    live_settings, fleet, gateway, world, django_capture_on_commit_callbacks
):
    now = at(fleet.query_time)
    idle_vm = world["vms"][fx.IDLE]
    live_settings.IDLE_GPU_STOP_AFTER_HOURS = 2
    with django_capture_on_commit_callbacks() as enqueued:
        assert check_idle_gpus(now=now, gateway=gateway)["stopped"] == 0  # just warned
        assert check_idle_gpus(now=now + timedelta(hours=1), gateway=gateway)["stopped"] == 0
        assert check_idle_gpus(now=now + timedelta(hours=2), gateway=gateway) == {
            "warned": 0,
            "cleared": 0,
            "stopped": 1,
        }
    idle_vm.refresh_from_db()
    assert idle_vm.state == VirtualMachine.State.STOPPING
    texts = [event.text for event in Event.objects.filter(vm=idle_vm).order_by("created_at", "pk")]
    assert "the owner was warned" in texts[0]
    assert "the VM is stopped, its disks are kept" in texts[1]
    assert texts[2] == "Stopping"
    assert len(enqueued) == 2  # the warning email, then the cluster work of the stop
    # Once stopping, the VM is out of the policy; the busy VMs were never touched.
    assert check_idle_gpus(now=now + timedelta(hours=3), gateway=gateway)["stopped"] == 0
    assert not IdleStatus.objects.exists()
    assert VirtualMachine.objects.filter(state="running").count() == len(world["vms"]) - 1


def test_idle_policy_never_stops_when_disabled(live_settings, fleet, gateway, world):
    live_settings.IDLE_GPU_STOP_AFTER_HOURS = 0
    now = at(fleet.query_time)
    assert check_idle_gpus(now=now, gateway=gateway)["warned"] == 1
    # Three hours later the VM is still idle (the stop test stops it at two): disabled, it keeps running.
    assert check_idle_gpus(now=now + timedelta(hours=3), gateway=gateway)["stopped"] == 0
    assert VirtualMachine.objects.get(pk=world["vms"][fx.IDLE].pk).state == "running"
