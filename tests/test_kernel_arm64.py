"""The kernel half on arm64: cse.ko and cse_conformance.ko cross-built (Debian's
cross gcc 12, unpacked) for Debian bookworm's arm64 6.1 kernel (its packages,
unpacked), booted in QEMU under TCG (-M virt -cpu max) with an initramfs of
Debian arm64 packages and the arm64 user-space build (testbed/provision/qemu/devices.py,
guest_root.py, vm_direct.py).  The qemu provisioner of the
qemu-debian12-6.1-arm64 cell fetches and boots; this host cannot run arm64
natively, so it is the only way these modules load.

One boot runs the guest script of tests/test_kernel.py (testbed.kernel_suites):
  K-K  every conformance scenario as a kernel client of kernel servers;
  U-K  the arm64 conformance client (64-bit: no 32-bit arm user space is
       built), the chunk-scribbling client and the ioctl fuzzer;
  K-U  user conformance servers and a hostile one, the module their client;
  kv   the kvstore example U-U, U-K, K-K and K-U, transcripts compared;
then both modules unload and the kernel log must hold no WARNING/BUG/Oops.
Each scenario of each direction is one pytest result; a VM that does not
start fails them all.  And through the runner: a boot that never reaches
the script is an ERROR with culprit tool, its console kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testbed import kernel_suites, ktap, kvsuite, runonce
from testbed.builds import FLAVOURS, BuildError, ToolMissing
from testbed.cellscript import between
from testbed.hostbuild import build_flavour, build_kernel_modules
from testbed.kbuild import module_dir
from testbed.kernel_suites import UK_RUNS
from testbed.matrix import load_matrix
from testbed.provision import ProvisionError
from testbed.provision.qemu import devices, guest_root
from testbed.provision.qemu.provisioner import STARTED, QemuProvisioner
from testbed.runner import RunOptions, run_cell

ROOT = Path(__file__).resolve().parent.parent
CELL = {c.id: c for c in load_matrix(ROOT / "ci/matrix.yaml")}["qemu-debian12-6.1-arm64"]
FLAVOUR = FLAVOURS["arm64"]
VM_TIMEOUT_S = 1800  # the kv suite alone took 10 minutes and more under TCG on a loaded host
SUITE_TIMEOUT_S = 600
#: the U-K runs of tests/test_kernel.py that have an arm64 build (not uk32)
UK_NAMES = tuple(n for n, (fl, _, _) in UK_RUNS.items() if fl == "linux")
KU_HOSTILE_CASES = ("silent", "garbage", "scribble", "fifo", "tcp")
KU_TCP_LINE = "K-U backup path over 127.0.0.1:"
GROUP = "kernel-arm64-6.1"


def _cases(run: str) -> list[str]:
    """KTAP case names of a run, from its arm64 binary's --list (under qemu-user)."""
    _, binary, _ = UK_RUNS.get(run, UK_RUNS["uk"])
    try:
        argv, env = FLAVOUR.command(FLAVOUR.builddir / binary, "--list")
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True,
                             env=os.environ | env)
    except (OSError, subprocess.SubprocessError, ToolMissing):
        return ["BUILD-MISSING"]
    return out.stdout.split()


def _script(moddir: Path) -> str:
    build = FLAVOUR.builddir
    uk = {n: f"{build / UK_RUNS[n][1]} {UK_RUNS[n][2]}" for n in UK_NAMES}
    ku = {"ku": kernel_suites.ku_command(moddir, build),
          "ku-hostile": kernel_suites.ku_hostile_command(moddir, build)}
    return kernel_suites.guest_script(moddir, kk=True, uk_runs=uk | ku,
                                      kv=kvsuite.command(build, moddir),
                                      timeout_s=SUITE_TIMEOUT_S)


def _boot() -> dict[str, Any]:
    """Fetch, build and boot once; every failure is the result's "error"."""
    logdir = ROOT / "build" / "kernel" / "arm64-vm"
    shutil.rmtree(logdir, ignore_errors=True)
    p = QemuProvisioner(CELL, logdir)
    try:
        p.prepare()
        build_flavour(FLAVOUR, logdir / "build.log")
        moddir = build_kernel_modules(p.kernel, logdir / "build.log")
        res = p.run(_script(moddir), timeout_s=VM_TIMEOUT_S)
    except (ProvisionError, BuildError, ToolMissing) as e:
        return {"error": f"{type(e).__name__}: {e}", "output": "", "returncode": None}
    dmesg = kernel_suites.kernel_log(res.output)
    vmdir = module_dir(p.kernel.release) / "vm"
    shutil.rmtree(vmdir, ignore_errors=True)
    shutil.copytree(logdir, vmdir)  # beside the modules, as tests/test_kernel.py keeps them
    (vmdir / "dmesg.txt").write_text(dmesg)
    return {"error": res.error, "output": res.output, "returncode": res.returncode,
            "timed_out": res.timed_out, "duration_s": res.duration_s, "dmesg": dmesg,
            "release": p.kernel.release, "console": str(vmdir / "console.log")}


def _run() -> dict[str, Any]:
    return runonce.once(GROUP, _boot)


def _params() -> list:
    marks = [pytest.mark.xdist_group(GROUP), pytest.mark.vm]
    params = [pytest.param("", marks=marks, id="arm64-6.1/load-run-unload")]
    for direction in ("kk", *UK_NAMES, "ku", "ku-hostile"):
        names = KU_HOSTILE_CASES if direction == "ku-hostile" else _cases(direction)
        params += [pytest.param(f"{direction}/{name}", marks=marks,
                                id=f"arm64-6.1/{direction}/{name}") for name in names]
    params += [pytest.param(f"kv/{item}", marks=marks, id=f"arm64-6.1/kv/{item}")
               for item in kvsuite.items()]
    return params


def _failure(r: dict[str, Any]) -> str:
    tail = "\n".join(r["output"].strip().splitlines()[-40:])
    return (f"arm64 VM run failed (exit {r['returncode']}, {r['error']}); console: "
            f"{r.get('console')}\n{tail}")


@pytest.mark.parametrize("scenario", _params())
def test_kernel_arm64(scenario: str) -> None:
    r = _run()
    assert r["returncode"] == 0 and r.get("dmesg"), _failure(r)
    assert r["release"].startswith("6.1.") and r["release"].endswith("-arm64")
    out, log = r["output"], kernel_suites.strip_timestamps(r["dmesg"])
    if scenario == "":
        steps = kernel_suites.failed_steps(out)
        assert not steps, "\n".join(steps) + "\n" + log[-3000:]
        bad = kernel_suites.complaints(r["dmesg"])
        assert not bad, "kernel complained:\n" + "\n".join(bad[:40])
        assert KU_TCP_LINE in between(out, "dmesg-ku"), log[-3000:]
        return
    direction, name = scenario.split("/", 1)
    if direction == "kv":
        ok, why = kvsuite.item_result(between(out, "kv"), name)
        assert ok, why
        return
    if direction in kernel_suites.KTAP_IN_KERNEL_LOG:
        text = kernel_suites.kernel_ktap(between(out, f"dmesg-{direction}"))
    else:
        text = between(out, direction)
    run = ktap.parse(text)
    assert run.complete, f"{direction} conformance did not finish:\n{(text or log)[-3000:]}"
    case = run.by_name().get(name)
    assert case is not None, f"{name} not reported ({direction})"
    if case.status == "skip":
        pytest.skip(case.reason)
    assert case.status == "pass", "\n".join(case.diagnostics)


def test_shell_argv_boots_the_same_guest_without_a_script(tmp_path: Path) -> None:
    """`cse shell` on the arm64 cell: QEMU with its console on the terminal
    (mon:stdio), the cell's files in the initramfs, no script (/init opens a
    shell)."""
    p = QemuProvisioner(CELL, tmp_path)
    p.prepare()
    argv = p.shell_argv()
    assert argv[0] == "qemu-system-aarch64"
    assert argv[argv.index("-serial") + 1] == "mon:stdio"
    assert argv[argv.index("-kernel") + 1] == str(p.kernel.vmlinuz)
    initrd = Path(argv[argv.index("-initrd") + 1]).read_bytes()
    base = guest_root.base(p.spec.suite, "arm64").read_bytes()
    assert initrd.startswith(base)  # then this boot's own archive

    def listing(archive: bytes) -> list[str]:
        return subprocess.run(["cpio", "-it", "--quiet"], input=archive, capture_output=True,
                              check=True).stdout.decode().split()

    assert "init" in listing(base)
    own = listing(initrd[len(base):])
    assert "cse/guest.sh" not in own
    assert str(FLAVOUR.builddir / "tests/cse-conformance").lstrip("/") in own


@pytest.mark.vm
def test_a_boot_that_never_reaches_the_script_is_a_tool_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /init where the kernel looks: it panics before the script (panic=-1
    and -no-reboot end QEMU at once), and the cell is ERROR, culprit tool."""
    monkeypatch.setattr(devices, "kernel_cmdline",
                        lambda dev: f"console={dev.console} rdinit=/no-init panic=-1")
    cell = dataclasses.replace(CELL, suites=("uu",))
    r = run_cell(cell, RunOptions(report_dir=tmp_path / "report", cell_timeout_s=600))
    assert (r.status, r.culprit) == ("ERROR", "tool"), r.reason
    assert "-arm64 VM never reached the script" in r.reason
    console = (tmp_path / "report" / r.logs["console"]).read_text()
    assert "Kernel panic" in console and STARTED not in console
