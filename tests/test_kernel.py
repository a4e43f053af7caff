"""The kernel half: cse.ko and the in-kernel conformance module, built for
every installed Debian kernel and exercised in a VM (this machine's own
kernel cannot load modules).

Per kernel, one VM boot:
  K-K  loads cse.ko and cse_conformance.ko, which runs every conformance
       scenario as a kernel client against kernel servers (KTAP in dmesg);
  U-K  reloads cse_conformance.ko with run_kk=0 so its kernel servers stay
       up, and runs the user-space conformance client against them through
       /dev/cse, 64-bit and 32-bit (the compat ioctl path);
then unloads both modules and keeps dmesg and the console under
build/kernel/<release>/vm/.  Each scenario of each direction is one pytest
result; a VM that cannot start is a failure, never a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed import ktap, runonce
from testbed.builds import FLAVOURS
from testbed.kbuild import build_modules, module_dir
from testbed.vm import Kernel, VmResult, between, debian_kernels, run_in_vm, section

VM_TIMEOUT_S = 900
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# What the kernel prints when it is unhappy; none may appear.
_BAD = re.compile(r"WARNING:|BUG:|Oops|Call Trace|general protection|KASAN|UBSAN")



def _kernels() -> list[Kernel]:
    return debian_kernels()


def _cases(run: str) -> list[str]:
    """The KTAP case names of a run, from its binary's --list."""
    fl, binary, _ = UK_RUNS.get(run, UK_RUNS["uk"])
    try:
        out = subprocess.run([str(FLAVOURS[fl].builddir / binary), "--list"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return ["BUILD-MISSING"]
    return out.stdout.split()


#: user-space programs run against the kernel servers, each printing KTAP:
#: name -> (build flavour, binary, arguments)
UK_RUNS = {
    "uk": ("linux", "tests/cse-conformance", "--servers kconf-inline kconf-worker"),
    "uk32": ("m32", "tests/cse-conformance", "--servers kconf-inline kconf-worker"),
    # hostile user space: a client scribbling its chunk, and bad or random ioctls
    "uk-hostile": ("linux", "tests/unit/test-hostile", "--server kconf-inline"),
    "uk-fuzz": ("linux", "tests/unit/test-dev-fuzz", "--server kconf-inline"),
}


def _script(moddir: Path) -> str:
    # Results come back on the console between markers: the console is what
    # the host always gets, even when the guest cannot write files.
    uk = "".join(section(name, f"timeout 600 {FLAVOURS[fl].builddir / binary} {args}")
                 for name, (fl, binary, args) in UK_RUNS.items())
    return f"""
dmesg -C
insmod {moddir}/cse.ko || echo CSE-STEP-FAILED insmod cse
insmod {moddir}/cse_conformance.ko || echo CSE-STEP-FAILED insmod cse_conformance
rmmod cse_conformance || echo CSE-STEP-FAILED rmmod cse_conformance
insmod {moddir}/cse_conformance.ko run_kk=0 || echo CSE-STEP-FAILED insmod servers
{uk}rmmod cse_conformance || echo CSE-STEP-FAILED rmmod servers
rmmod cse || echo CSE-STEP-FAILED rmmod cse
{section("dmesg", "dmesg")}"""


def _boot(kernel: Kernel) -> dict:
    moddir = build_modules(kernel.release, kernel.headers)
    logdir = module_dir(kernel.release) / "vm"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    res = run_in_vm(kernel, _script(moddir), timeout_s=VM_TIMEOUT_S, log_dir=logdir)
    dmesg = between(res.output, "dmesg")
    (logdir / "dmesg.txt").write_text(dmesg)
    return {"returncode": res.returncode, "output": res.output,
            "console_log": str(res.console_log), "duration_s": res.duration_s,
            "timed_out": res.timed_out, "error": res.error, "dmesg": dmesg}


def _kernel_run(kernel: Kernel) -> tuple[VmResult, str]:
    """Boot once per test run and kernel, whichever worker asks first."""
    r = runonce.once(f"kernel-{kernel.release}", lambda: _boot(kernel))
    res = VmResult(r["returncode"], r["output"], Path(r["console_log"]), r["duration_s"],
                   r["timed_out"], r["error"])
    return res, r["dmesg"]


def _strip(dmesg: str) -> str:
    return "\n".join(_TIMESTAMP.sub("", line) for line in dmesg.splitlines())


def _params() -> list:
    kernels = _kernels()
    if not kernels:
        return [pytest.param(None, "", id="no-kernel-installed")]
    params = []
    for k in kernels:
        group = pytest.mark.xdist_group(f"kernel-{k.release}")
        params.append(pytest.param(k, "", marks=[group, pytest.mark.vm],
                                   id=f"{k.release}/load-run-unload"))
        for direction in ("kk", *UK_RUNS):
            for name in _cases(direction):
                params.append(pytest.param(k, f"{direction}/{name}",
                                           marks=[group, pytest.mark.vm],
                                           id=f"{k.release}/{direction}/{name}"))
    return params


def _vm_failure(res: VmResult) -> str:
    tail = "\n".join(res.output.strip().splitlines()[-40:])
    return (f"VM run failed (exit {res.returncode}, timed out: {res.timed_out}, "
            f"{res.error}); console: {res.console_log}\n{tail}")


@pytest.mark.parametrize("kernel,scenario", _params())
def test_kernel(kernel: Kernel | None, scenario: str) -> None:
    if kernel is None:
        pytest.fail("no Debian kernel with headers installed: run scripts/install-vm-deps.sh")
    res, dmesg = _kernel_run(kernel)
    assert res.returncode == 0 and dmesg, _vm_failure(res)
    log = _strip(dmesg)
    if scenario == "":
        failed_steps = [line for line in res.output.splitlines() if "CSE-STEP-FAILED" in line]
        assert not failed_steps, "\n".join(failed_steps) + "\n" + log[-3000:]
        bad = [line for line in log.splitlines() if _BAD.search(line)]
        assert not bad, "kernel complained:\n" + "\n".join(bad[:40])
        return
    direction, name = scenario.split("/")
    if direction == "kk":
        text = log[log.find("KTAP version 1"):] if "KTAP version 1" in log else ""
    else:
        text = between(res.output, direction)
    run = ktap.parse(text)
    assert run.complete, f"{direction} conformance did not finish:\n{(text or log)[-3000:]}"
    case = run.by_name().get(name)
    assert case is not None, f"{name} not reported ({direction})"
    if case.status == "skip":
        pytest.skip(case.reason)
    assert case.status == "pass", "\n".join(case.diagnostics)
