"""The kernel health guard in a real VM (qemu-debian12-6.1-x86_64, TCG here):
taint flags read after each suite, a panic judged by whose code its trace
is in, and the run resuming after it in a new boot (kirk's --restore).

The faults are injected into the cell's own script by a QemuProvisioner
subclass; the boot, the guest, the kernel's reports and the judging are real:

  1. uu marks the kernel tainted (W) before it runs: FAIL, culprit code;
     uk triggers a panic through sysrq (a trace with no CSE frame): ERROR,
     culprit tool, the console kept; the VM boots again and ku passes.
  2. kk loads cse_crash.ko (built here against the kernel's headers), whose
     init panics: the trace names a CSE module, so FAIL, culprit code; then
     uk and ku pass in the next boot.
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from pathlib import Path

import pytest

from testbed import cellscript
from testbed.builds import FLAVOURS, ROOT
from testbed.matrix import load_matrix
from testbed.provision.base import CommandResult
from testbed.provision.qemu.provisioner import QemuProvisioner
from testbed.results import CellResult
from testbed.runner import RunOptions, cell_dir, run_cell

CELL = next(c for c in load_matrix(ROOT / "ci/matrix.yaml")
            if c.id == "qemu-debian12-6.1-x86_64")
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)
#: short suites, so that a hang would not cost the default 10 minutes
SUITE_TIMEOUT_S = 240
pytestmark = [pytest.mark.vm, pytest.mark.xdist_group("kernel-guard")]

CRASH_C = """\
#include <linux/module.h>
#include <linux/kernel.h>
static int __init cse_crash_init(void)
{
	panic("cse_crash: injected by tests/test_kernel_guard.py");
	return 0;
}
module_init(cse_crash_init);
MODULE_LICENSE("GPL");
"""


def _injecting(edit: dict[str, str]) -> type[QemuProvisioner]:
    """A qemu provisioner whose first script has each key of @edit replaced
    by its value (later scripts, the resumed boots, run as they are)."""
    class Injecting(QemuProvisioner):
        runs = 0

        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            Injecting.runs += 1
            if Injecting.runs == 1:
                for old, new in edit.items():
                    assert old in script, old
                    script = script.replace(old, new)
            return super().run(script, timeout_s=timeout_s)
    return Injecting


def _run(tmp: Path, edit: dict[str, str]) -> CellResult:
    cell = dataclasses.replace(CELL, suites=("build", "uu", "kk", "uk", "ku"))
    return run_cell(cell, RunOptions(report_dir=tmp / "report", token="guard",
                                     suite_timeout_s=SUITE_TIMEOUT_S), _injecting(edit))


def test_taint_and_a_panic_outside_our_code(tmp_path: Path) -> None:
    taint_then_run = f"sh -c 'echo 512 > /proc/sys/kernel/tainted; exec {CONFORMANCE}'\n"
    panic = "sh -c 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger' #"
    r = _run(tmp_path, {f"{CONFORMANCE}\n": taint_then_run,
                        f"{CONFORMANCE} --kernel-servers": panic})
    s = r.suites
    assert (s["uu"].status, s["uu"].error) == \
        ("FAIL", "kernel tainted W (a WARNING) during the suite"), s["uu"]
    assert s["kk"].status == "PASS", s["kk"].error
    assert s["uk"].status == "ERROR", s["uk"]
    assert s["uk"].error.startswith("the VM died or stopped answering") and \
        "sysrq triggered crash" in s["uk"].error and "no CSE module" in s["uk"].error
    assert s["ku"].status == "PASS", s["ku"].error  # in the second boot
    assert (r.status, r.culprit) == ("FAIL", "code")
    assert (r.info["resumed"], r.info["attempts"]) == ("ku", "2")
    d = cell_dir(tmp_path / "report", CELL.id)
    assert "Kernel panic - not syncing: sysrq triggered crash" in \
        (d / "console.log").read_text(), "the console of the dead boot is kept"
    assert "CSE-BEGIN-ku" in (d / "console.attempt-2.log").read_text()
    assert "CSE-BEGIN-uu" not in (d / "cell.attempt-2.sh").read_text()


@pytest.fixture(scope="module")
def crash_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cse_crash.ko for the cell's kernel, built like any out-of-tree module."""
    from testbed.provision.qemu import kernels

    spec = kernels.find(CELL.image, CELL.kernel, CELL.arch)
    assert spec is not None
    kernel = kernels.prepare(spec, lambda line: None)
    src = tmp_path_factory.mktemp("cse_crash")
    (src / "cse_crash.c").write_text(CRASH_C)
    (src / "Makefile").write_text("obj-m := cse_crash.o\n")
    argv = kernel.make.argv(["-C", str(kernel.make.path(kernel.headers)), f"M={src}",
                             "modules"], binds=(src,))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and (src / "cse_crash.ko").is_file(), proc.stdout + proc.stderr
    return src / "cse_crash.ko"


def test_a_panic_in_a_cse_module_is_the_code(tmp_path: Path, crash_module: Path) -> None:
    r = _run(tmp_path, {"cse_conformance.ko\n": f"cse_conformance.ko; insmod "
                                                f"{shlex.quote(str(crash_module))}\n"})
    s = r.suites
    assert (s["kk"].status, r.status, r.culprit) == ("FAIL", "FAIL", "code"), s["kk"]
    assert s["kk"].error.startswith("the VM died: kernel panic in cse_crash: Kernel panic"), \
        s["kk"].error
    health = next(t for t in s["kk"].tests if t.name == "kernel-health")
    assert "cse_crash_init+0x" in health.diagnostics  # the trace, attached
    assert s["uk"].status == "PASS" and s["ku"].status == "PASS"
    assert s["uu"].status == "PASS" and r.info["resumed"] == "uk"
