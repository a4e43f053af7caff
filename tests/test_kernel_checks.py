"""The kernel's own checks on cse.ko and cse_conformance.ko: every source
file through sparse (`make C=2`, address spaces such as __user, locking
context, endianness) and the extra compiler warnings of `W=1` (already
errors, as the Kbuild file adds -Werror), for every installed Debian
kernel and for bookworm's arm64 6.1 (cross-built, testbed/kernel_debs.py).
Built in a private folder, so the modules the VM tests load are left alone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from testbed import kernel_debs, kernels
from testbed.builds import ROOT
from testbed.vm import debian_kernels

#: what sparse or gcc print for a finding
FINDING = re.compile(r": (warning|error): ")
#: kernels of another arch checked too (fetched in the test: "image series arch")
FOREIGN = ("debian:bookworm 6.1 arm64",)


@pytest.mark.parametrize("release",
                         ([k.release for k in debian_kernels()] or ["none"]) + list(FOREIGN))
def test_sparse_and_w1_are_clean(release: str, tmp_path: Path) -> None:
    if release == "none":
        pytest.fail("no Debian kernel with headers installed: run scripts/install-vm-deps.sh")
    extra: list[str] = []
    if release in FOREIGN:
        spec = kernels.find(*release.split())
        assert spec is not None, release
        kernel = kernel_debs.ensure(spec)
        release = kernel.release
        extra = [f"KDIR={kernel.headers}", *kernel.make_args]
    out = tmp_path / "kbuild"
    proc = subprocess.run(
        ["make", "-C", str(ROOT / "kernel/linux"), f"KVER={release}", f"OUT={out}",
         "C=2", "W=1", *extra],
        capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    findings = [line for line in log.splitlines() if FINDING.search(line)]
    assert not findings, "\n".join(findings[:40])
    # sparse really looked at every source we wrote (*.mod.c are generated).
    checked = {Path(m).name for m in re.findall(r"^\s+CHECK\s+(\S+\.c)$", log, re.M)}
    compiled = {p.name for p in out.rglob("*.c") if not p.name.endswith(".mod.c")}
    assert compiled and compiled <= checked, sorted(compiled - checked)
