"""Which requests wait for an approver: the GPU model's rule and the auto-approval rules."""

import pytest

from tests.vms.factories import request_vm
from vms.models import (
    AutoApprovalRule,
    Event,
    GpuModel,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("gpu", "instance_type", "rule", "lease_hours", "expected"),
    [
        ("L40S", "g1.large", None, None, "approved"),  # no approval needed
        ("A100", "g8.2xlarge", None, 24, "approved"),
        ("H100", "g1.large", None, 24, "pending_approval"),  # H100 always needs an approver...
        ("H100", "g1.large", ("H100", 1, 48), 24, "approved"),  # ...unless a rule lets it through
        ("H100", "g2.large", ("H100", 1, 48), 24, "pending_approval"),  # more GPUs than the rule
        ("H100", "g1.large", ("H100", 1, 48), 72, "pending_approval"),  # longer lease than the rule
        ("H100", "g1.large", ("H100", 1, 48), None, "pending_approval"),  # no lease: no rule applies
        ("H100", "g4.xlarge", (None, 4, 24), 12, "approved"),  # a rule for any model
        ("H100", "g1.large", ("A100", 8, 999), 12, "pending_approval"),  # a rule for another model
    ],
)
def test_approval_policy(member, team, gpu, instance_type, rule, lease_hours, expected):
    if rule:
        model, max_gpus, max_hours = rule
        AutoApprovalRule.objects.create(
            gpu_model=GpuModel.objects.get(slug=model) if model else None, max_gpus=max_gpus, max_lease_hours=max_hours
        )
    AutoApprovalRule.objects.create(
        gpu_model=GpuModel.objects.get(slug="H100"), max_gpus=8, max_lease_hours=999, active=False
    )
    vm = request_vm(member, team, gpu=gpu, instance_type=instance_type, lease_hours=lease_hours)
    assert vm.state == expected
    decisions = Event.objects.filter(vm=vm, kind="decision")
    assert decisions.count() == (1 if rule and expected == "approved" and gpu == "H100" else 0)
