"""The import contracts in pyproject.toml hold, and a reversed import breaks them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.worker import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("hikube_portal", "vms", "monitoring")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_rule_importing_a_service_breaks_the_layers(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    request = tmp_path / "vms" / "spec" / "request.py"
    request.write_text(request.read_text() + "\nfrom vms.governance import services  # noqa: E402\n")

    result = lint_imports(tmp_path)

    assert result.returncode == 1
    assert "BROKEN" in result.stdout
    assert "vms.spec.request -> vms.governance.services" in result.stdout


def test_readmes_layout_table_names_every_directory_and_package():
    layout = (REPO / "README.md").read_text().partition("## Layout")[2]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    top_dirs = {line.split("/")[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    assert sorted(name for name in top_dirs if f"`{name}/" not in layout) == []
    packages = {path.parent.name for path in (REPO / "vms").glob("*/__init__.py")}
    assert packages >= {"spec", "catalogue", "render", "governance", "cluster", "web", "management"}
    assert sorted(name for name in packages if f"`{name}/`" not in layout) == []
