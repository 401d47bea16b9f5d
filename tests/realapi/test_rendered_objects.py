"""Every object the portal renders, sent to the real API server as a dry run with strict field
validation: an unknown or misplaced field, a value outside the CRD schemas, or a name the CRDs'
CEL rules refuse fails here, as it would on the platform."""

import itertools

import pytest
from kubernetes import client

from tests.support import kube
from tests.vms.cluster.helpers import SSH_KEY
from vms.catalogue.offer import Catalogue
from vms.render.manifests import LABEL_VM_ID, render_manifests
from vms.spec.request import (
    API_SHAPE_LEGACY,
    API_SHAPES,
    MAX_LEGACY_VM_NAME_LENGTH,
    MAX_VM_NAME_LENGTH,
    DiskSpec,
    VmSpec,
)

pytestmark = pytest.mark.realapi
kube.skip_unless_available()

LONGEST_NAME = {"current": MAX_VM_NAME_LENGTH, API_SHAPE_LEGACY: MAX_LEGACY_VM_NAME_LENGTH}
PLURALS = {"VMDisk": "vmdisks", "VMInstance": "vminstances", "VirtualMachine": "virtualmachines"}


def widest_spec(name: str, instance_type: str, catalogue: Catalogue, *, disks: int) -> VmSpec:
    """Every optional part filled in, at the catalogue's limits."""
    limits = catalogue.limits
    return VmSpec(
        name=name,
        team="render",
        instance_type=instance_type,
        gpu_model=next(iter(catalogue.gpu_models)),
        image=next(iter(catalogue.images)),
        system_disk_gib=limits.min_system_disk_gib,
        system_disk_class=catalogue.storage_classes[0],
        disks=tuple(
            DiskSpec(name=f"d{index}", size_gib=limits.max_disk_gib, storage_class=catalogue.storage_classes[-1])
            for index in range(disks)
        ),
        public_ports=(22, 443, 8888)[: limits.max_ports],
        ssh_keys=(SSH_KEY,),
        software=catalogue.software,
        cloud_config="#cloud-config\npackages: [htop]\n",
    )


def dry_run_create(api_client, obj: dict) -> None:
    namespace = obj["metadata"]["namespace"]
    api_client.call_api(
        f"/apis/{obj['apiVersion']}/namespaces/{namespace}/{PLURALS[obj['kind']]}",
        "POST",
        query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
        body=obj,
        header_params={"Content-Type": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )


@pytest.mark.parametrize("api_shape", API_SHAPES)
def test_every_object_the_portal_renders_is_accepted_by_the_crd_schemas(real_cluster, admin_api, api_shape):
    catalogue = Catalogue.from_seed()
    # The longest name the portal accepts, then a short one, in turn over the instance types.
    names = itertools.cycle(["a" * LONGEST_NAME[api_shape], "vm-1"])
    kinds = []
    with real_cluster.namespace("tenant-render") as namespace:
        for instance_type in catalogue.instance_types:
            # The 0.x app has no additional disks.
            disks = 0 if api_shape == API_SHAPE_LEGACY else catalogue.limits.max_disks
            spec = widest_spec(next(names), instance_type, catalogue, disks=disks)
            for obj in render_manifests(spec, catalogue=catalogue, namespace=namespace, vm_id=7, api_shape=api_shape):
                dry_run_create(admin_api, obj)
                assert obj["metadata"]["labels"][LABEL_VM_ID] == "7"
                kinds.append(obj["kind"])
    # Per VM: the 0.x app alone, or the system disk, each additional disk and the instance.
    per_vm = 1 if api_shape == API_SHAPE_LEGACY else 2 + catalogue.limits.max_disks
    assert len(kinds) == per_vm * len(catalogue.instance_types)


@pytest.mark.parametrize("api_shape", API_SHAPES)
def test_a_vm_name_one_character_over_the_portals_limit_is_refused_by_the_real_server(
    real_cluster, admin_api, api_shape
):
    catalogue = Catalogue.from_seed()
    spec = widest_spec("a" * (LONGEST_NAME[api_shape] + 1), next(iter(catalogue.instance_types)), catalogue, disks=0)
    with real_cluster.namespace("tenant-render") as namespace:
        instance = next(
            obj
            for obj in render_manifests(spec, catalogue=catalogue, namespace=namespace, vm_id=7, api_shape=api_shape)
            if obj["kind"] != "VMDisk"
        )
        with pytest.raises(client.ApiException) as refused:
            dry_run_create(admin_api, instance)
    assert refused.value.status == 422
