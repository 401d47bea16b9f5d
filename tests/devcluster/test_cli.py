import pytest

from devcluster.__main__ import parse_arguments
from devcluster.catalogue import parse_gpu_inventory


def test_gpu_inventory_accepts_slugs_and_resource_names():
    inventory = parse_gpu_inventory("H100=4, a100=8,nvidia.com/AD102GL_L40S=2,L40S=1")

    assert inventory == {"nvidia.com/H100_94GB": 4, "nvidia.com/GA100_A100_PCIE_80GB": 8, "nvidia.com/AD102GL_L40S": 3}


@pytest.mark.parametrize("text", ["H100", "B200=2", "H100=many"])
def test_gpu_inventory_rejects_what_it_cannot_map(text):
    with pytest.raises(ValueError):
        parse_gpu_inventory(text)


def test_tenant_tokens_map_to_namespaces(tmp_path):
    arguments = parse_arguments(
        ["--port", "0", "--kubeconfig", str(tmp_path / "kc"), "--tenant-token", "tok=tenant-a,tenant-b"]
    )

    assert arguments.tenant_tokens == {"tok": frozenset({"tenant-a", "tenant-b"})}
    assert arguments.speed == "realistic"


def test_tenant_quotas_and_the_controller_only_mode(tmp_path):
    arguments = parse_arguments(
        [
            "--controller-only",
            "--api-kubeconfig",
            str(tmp_path / "kc"),
            "--tenant-quota",
            "tenant-a:H100=1",
            "--tenant-quota",
            "tenant-a:A100=2,L40S=0",
            "--tenant-quota",
            "tenant-b:nvidia.com/GA102GL_A10=3",
        ]
    )

    assert arguments.tenant_quotas == {
        "tenant-a": {"nvidia.com/H100_94GB": 1, "nvidia.com/GA100_A100_PCIE_80GB": 2, "nvidia.com/AD102GL_L40S": 0},
        "tenant-b": {"nvidia.com/GA102GL_A10": 3},
    }
    assert arguments.controller_only and arguments.port is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--controller-only"],
        ["--port", "0"],
        ["--port", "0", "--kubeconfig", "kc", "--tenant-quota", "H100=1"],
        ["--port", "0", "--kubeconfig", "kc", "--tenant-quota", "tenant-a:B200=1"],
    ],
)
def test_incomplete_or_unknown_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_code:
        parse_arguments(argv)

    assert exit_code.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_advertise_host_is_what_the_kubeconfig_points_at(tmp_path):
    """In docker compose the servers listen on 0.0.0.0 but clients reach them by service name."""
    import subprocess
    import sys

    import yaml

    from tests.support.processes import free_port, stop, wait_for_http

    port, kubeconfig = free_port(), tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devcluster",
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
            "--advertise-host",
            "localhost",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/version", process=process)
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    finally:
        stop(process)
    assert server == f"http://localhost:{port}"
