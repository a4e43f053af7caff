"""The kernel's own checks on cse.ko and cse_conformance.ko: every source
file through sparse (`make C=2`, address spaces such as __user, locking
context, endianness) and the extra compiler warnings of `W=1` (already
errors, as the Kbuild file adds -Werror), for every kernel `make test`
boots (testbed/provision/qemu/kernels.py: bookworm's 6.1 and 6.12 here, bullseye's 5.10 in
its chroot, with bullseye's gcc 10 and sparse 0.6.3, and bookworm's arm64
6.1, cross-built: testbed/provision/qemu/kernel_debs.py).  Built in a private folder, so
the modules the VM tests load are left alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.kbuild import run_make
from testbed.provision.qemu import kernels

#: what sparse or gcc print for a finding
FINDING = re.compile(r": (warning|error): ")
#: kernels of another arch checked too (fetched in the test: "image series arch")
FOREIGN = ("debian:bookworm 6.1 arm64",)


def _specs() -> list[kernels.KernelSpec]:
    foreign = [kernels.find(*name.split()) for name in FOREIGN]
    return [s for s in kernels.KERNELS if s.in_make_test] + [s for s in foreign if s]


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.label)
def test_sparse_and_w1_are_clean(spec: kernels.KernelSpec, tmp_path: Path) -> None:
    kernel = kernels.prepare(spec)  # FetchError (not here, not fetchable) fails the test
    out = tmp_path / "kbuild"
    proc = run_make(kernel, out, "C=2", "W=1", timeout_s=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    findings = [line for line in log.splitlines() if FINDING.search(line)]
    assert not findings, "\n".join(findings[:40])
    # sparse really looked at every source we wrote (*.mod.c are generated).
    checked = {Path(m).name for m in re.findall(r"^\s+CHECK\s+(\S+\.c)$", log, re.M)}
    compiled = {p.name for p in out.rglob("*.c") if not p.name.endswith(".mod.c")}
    assert compiled and compiled <= checked, sorted(compiled - checked)
