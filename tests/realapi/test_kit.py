"""How the control plane's binaries are taken from the kit: decompressed once, checked, reused.
These need no kit and no etcd (a fake kit of small files stands in), so they always run."""

import hashlib
import lzma

import pytest

from tests.support import kube


@pytest.fixture
def fake_kit(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    sums = []
    for name in kube.BINARIES:
        content = f"#!/bin/sh\necho {name}\n".encode()
        (kit / f"{name}.xz").write_bytes(lzma.compress(content))
        sums.append(f"{hashlib.sha256(content).hexdigest()}  {name}")
    (kit / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return kit


def test_binaries_are_decompressed_executable_and_checked(fake_kit, tmp_path):
    paths = kube.binaries(fake_kit, tmp_path / "cache")

    for name, path in paths.items():
        assert path.read_bytes() == f"#!/bin/sh\necho {name}\n".encode()
        assert path.stat().st_mode & 0o111 == 0o111
    assert sorted(paths) == sorted(kube.BINARIES)


def test_a_cached_copy_is_reused_while_its_checksum_holds_and_replaced_after(fake_kit, tmp_path):
    cache = tmp_path / "cache"
    apiserver = kube.binaries(fake_kit, cache)["kube-apiserver"]
    reused_inode = apiserver.stat().st_ino

    assert kube.binaries(fake_kit, cache)["kube-apiserver"].stat().st_ino == reused_inode
    apiserver.write_bytes(b"truncated")
    assert kube.binaries(fake_kit, cache)["kube-apiserver"].read_bytes() == b"#!/bin/sh\necho kube-apiserver\n"


def test_an_archive_that_does_not_match_its_checksum_is_refused(fake_kit, tmp_path):
    (fake_kit / "kube-controller-manager.xz").write_bytes(lzma.compress(b"something else"))

    with pytest.raises(RuntimeError, match="does not decompress to the checksum in SHA256SUMS"):
        kube.binaries(fake_kit, tmp_path / "cache")

    assert not [path for path in (tmp_path / "cache").rglob("*") if path.name.startswith(".kube-")]


def test_without_a_kit_the_tier_says_why_and_how_to_enable_it(tmp_path, monkeypatch):
    monkeypatch.setenv(kube.KIT_VARIABLE, str(tmp_path / "nowhere"))

    reason = kube.unavailable()

    assert reason.startswith(f"no Kubernetes kit at {tmp_path / 'nowhere'}")
    assert f"set {kube.KIT_VARIABLE} to a directory" in reason
