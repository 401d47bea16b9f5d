"""The two Cozystack API shapes as the cluster serves them: the one place that says which apps
objects a VM of each shape is made of and how it is powered. (The shape names and their name
limits are request rules, in vms.spec.request; the objects each shape renders are in
vms.render.manifests.)

- current (Cozystack 1.x): a VMInstance, plus one VMDisk per disk; powered by `runStrategy`;
- legacy (0.x): one VirtualMachine with its system disk inline; powered by `running`.
"""

from dataclasses import dataclass

from vms.cluster.gateway import LEGACY_VIRTUAL_MACHINE, VM_DISK, VM_INSTANCE, Kind
from vms.spec.request import API_SHAPE_CURRENT, API_SHAPE_LEGACY


@dataclass(frozen=True)
class ClusterShape:
    instance: Kind
    apps: tuple[Kind, ...]  # the instance first: the order they are deleted in
    legacy_power: bool

    def power_patch(self, *, running: bool) -> dict:
        if self.legacy_power:
            return {"spec": {"running": running}}
        return {"spec": {"runStrategy": "Always" if running else "Halted"}}


SHAPES = {
    API_SHAPE_CURRENT: ClusterShape(instance=VM_INSTANCE, apps=(VM_INSTANCE, VM_DISK), legacy_power=False),
    API_SHAPE_LEGACY: ClusterShape(instance=LEGACY_VIRTUAL_MACHINE, apps=(LEGACY_VIRTUAL_MACHINE,), legacy_power=True),
}


def shape_of(vm) -> ClusterShape:
    return SHAPES[vm.api_shape]
