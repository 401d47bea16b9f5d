"""Team quotas: what counts against them, and requests that would exceed them."""

import threading

import pytest
from django.db import connections
from django.urls import reverse

from tests.vms.factories import make_vm, request_vm
from vms import errors
from vms.governance import services
from vms.models import (
    GpuModel,
    Quota,
    VirtualMachine,
)

pytestmark = pytest.mark.django_db


def test_quota_counts_pending_and_active_requests(member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    request_vm(member, team, name="a", instance_type="g4.xlarge")
    request_vm(member, team, name="b", instance_type="g4.xlarge")
    with pytest.raises(
        errors.QuotaExceeded,
        match=r"Team ml-research may hold 8× H100; it holds or has asked "
        r"for 8, and this needs 1 more\.",
    ):
        request_vm(member, team, name="c", instance_type="g1.large")
    assert VirtualMachine.objects.count() == 2


def test_rejected_and_deleted_requests_free_the_quota(member, team, approver):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    vm = request_vm(member, team, name="a")
    services.vm_reject(vm_id=vm.pk, actor=approver, reason="not now")
    second = request_vm(member, team, name="b")
    assert second.state == "pending_approval"
    with pytest.raises(errors.QuotaExceeded):
        request_vm(member, team, name="c")
    from vms.governance import lifecycle

    lifecycle.vm_delete(vm_id=second.pk, actor=member)  # a request cancelled before approval is deleted at once
    assert request_vm(member, team, name="c").state == "pending_approval"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_both_take_the_last_gpus(member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8)
    barrier, results = threading.Barrier(2), []

    def submit(name):
        try:
            barrier.wait()
            request_vm(member, team, name=name)
            results.append("ok")
        except errors.QuotaExceeded:
            results.append("quota")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "quota"]
    assert VirtualMachine.objects.count() == 1


def test_form_shows_quota_and_refuses_over_quota(member_client, member, team):
    Quota.objects.create(team=team, gpu_model=GpuModel.objects.get(slug="L40S"), max_gpus=2)
    make_vm(team=team, owner=member, gpu="L40S", instance_type="g1.large")
    data = {
        "name": "x",
        "team": str(team.pk),
        "instance_type": "g2.large",
        "gpu_model": "L40S",
        "image": "ubuntu",
        "system_disk_size": "100",
        "system_disk_class": "replicated",
        "public_ports": "22",
        "software": ["nvidia-driver", "dcgm-exporter"],
        "action": "submit",
    }
    summary = member_client.post(reverse("vm_request_summary"), data).content.decode()
    assert "1 committed + 2 requested: -1 left" in summary and "over quota" in summary
    response = member_client.post(reverse("vm_request"), data)
    assert "may hold 2× L40S" in " ".join(response.context["form"].errors["gpu_model"])
    assert VirtualMachine.objects.count() == 1
