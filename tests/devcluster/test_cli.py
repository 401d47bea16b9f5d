import pytest

from devcluster.__main__ import parse_arguments
from devcluster.catalogue import parse_gpu_inventory


def test_gpu_inventory_accepts_slugs_and_resource_names():
    inventory = parse_gpu_inventory("H100=4, a100=8,nvidia.com/AD102GL_L40S=2,L40S=1")

    assert inventory == {"nvidia.com/H100_94GB": 4, "nvidia.com/GA100_A100_PCIE_80GB": 8,
                         "nvidia.com/AD102GL_L40S": 3}


@pytest.mark.parametrize("text", ["H100", "B200=2", "H100=many"])
def test_gpu_inventory_rejects_what_it_cannot_map(text):
    with pytest.raises(ValueError):
        parse_gpu_inventory(text)


def test_tenant_tokens_map_to_namespaces(tmp_path):
    arguments = parse_arguments(["--port", "0", "--kubeconfig", str(tmp_path / "kc"),
                                 "--tenant-token", "tok=tenant-a,tenant-b"])

    assert arguments.tenant_tokens == {"tok": frozenset({"tenant-a", "tenant-b"})}
    assert arguments.speed == "realistic"
