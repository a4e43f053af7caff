"""cse.ko installs the standard way: the staged DKMS source builds for every
installed Debian kernel (in private DKMS trees, leaving the system alone)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testbed.builds import ROOT
from testbed.provision.qemu.vm import debian_kernels


@pytest.mark.parametrize("release", [k.release for k in debian_kernels()] or ["none"])
def test_dkms_builds_the_module(release: str, tmp_path: Path) -> None:
    if release == "none":
        pytest.fail("no Debian kernel with headers installed: run scripts/install-vm-deps.sh")
    src, tree = tmp_path / "src", tmp_path / "tree"
    src.mkdir()
    tree.mkdir()
    staged = subprocess.run([str(ROOT / "kernel/linux/dkms-source.sh"), str(src)],
                            check=True, capture_output=True, text=True).stdout.strip()
    version = Path(staged).name.removeprefix("cse-")
    trees = ["--sourcetree", str(src), "--dkmstree", str(tree)]
    for cmd in (["add"], ["build", "-k", release]):
        proc = subprocess.run(["dkms", *cmd, "-m", "cse", "-v", version, *trees],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built = list((tree / "cse" / version / release).rglob("cse.ko*"))
    assert built, f"dkms build produced no cse.ko for {release}"
