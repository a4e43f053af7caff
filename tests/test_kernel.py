"""The kernel half: cse.ko and the in-kernel conformance module, built for
the kernels of testbed/provision/qemu/kernels.py marked in_make_test (bookworm's 6.1 and
6.12, installed here, and bullseye's 5.10 in a chroot of its release,
fetched once into the per-user cache) and exercised in a VM (this machine's
own kernel cannot load modules).

Per kernel, one VM boot:
  K-K  loads cse.ko and cse_conformance.ko, which runs every conformance
       scenario as a kernel client against kernel servers (KTAP in dmesg);
  U-K  reloads cse_conformance.ko with run_kk=0 so its kernel servers stay
       up, and runs the user-space conformance client against them through
       /dev/cse, 64-bit and 32-bit (the compat ioctl path), a chunk-scribbling
       client and an ioctl fuzzer;
  K-U  starts user conformance servers and reloads the module as their
       kernel client (KTAP in dmesg), then does the same against a user
       server that abuses its kernel clients (ku-hostile);
  Python (the first kernel only) the binding's conformance scenarios
       against the kernel servers (uk-python) and the module as the kernel
       client of Python servers (ku-python), see tests/pycse/vm.py;
  kv   the kvstore example (examples/kvstore: one source, built as
       programs and as kvstore.ko and kvstore_client.ko) U-U, U-K, K-K and
       K-U: the same test script and 8 clients x 1,000 mixed commands in
       each, whose four transcripts must be identical (testbed/kvsuite.py);
then unloads the modules and keeps dmesg and the console under
build/kernel/<release>/vm/.  Each scenario of each direction is one pytest
result; a kernel that cannot be fetched or built, or a VM that cannot
start, is a failure, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pycse import vm as pyvm

from testbed import kernel_suites, ktap, kvsuite, runonce
from testbed.builds import FLAVOURS, BuildError
from testbed.cellscript import between
from testbed.hostbuild import build_lock
from testbed.kbuild import MakeSetupError, build_modules, module_dir
from testbed.kernel_suites import UK_RUNS
from testbed.provision.qemu import kernels
from testbed.provision.qemu.kernels import KernelSpec
from testbed.provision.qemu.vm import VmResult, run_in_vm

VM_TIMEOUT_S = 1200  # the Python runs add minutes under TCG (each Python start is seconds)
UK_TIMEOUT_S = 600


def _specs() -> list[KernelSpec]:
    return [spec for spec in kernels.KERNELS if spec.in_make_test]


def _cases(run: str) -> list[str]:
    """The KTAP case names of a run, from its binary's --list."""
    fl, binary, _ = UK_RUNS.get(run, UK_RUNS["uk"])
    try:
        out = subprocess.run([str(FLAVOURS[fl].builddir / binary), "--list"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return ["BUILD-MISSING"]
    return out.stdout.split()


#: K-U runs: name -> guest command; their KTAP is in their dmesg-<name> section
def _ku_runs(moddir: Path) -> dict[str, str]:
    build = FLAVOURS["linux"].builddir
    return {"ku": kernel_suites.ku_command(moddir, build),
            "ku-hostile": kernel_suites.ku_hostile_command(moddir, build)}


#: KTAP case names of the K-U runs (the module's scenarios are the suite's)
KU_HOSTILE_CASES = ("silent", "garbage", "scribble", "fifo", "tcp")
#: what cse.ko logs when a kernel client opens its loopback TCP backup path
KU_TCP_LINE = "K-U backup path over 127.0.0.1:"


def _python(spec: KernelSpec) -> bool:
    """The Python binding's runs go in the first kernel's boot only: they
    exercise the binding, whose kernel paths are the C clients' and
    servers', and each costs minutes of Python under TCG."""
    return spec == _specs()[0]


def _script(moddir: Path, spec: KernelSpec) -> str:
    # Results come back on the console between markers: the console is what
    # the host always gets, even when the guest cannot write files.  The guest
    # script is testbed.kernel_suites', shared with the runner's qemu cells.
    return kernel_suites.guest_script(
        moddir, kk=True,
        uk_runs=kernel_suites.uk_commands() | _ku_runs(moddir)
        | (pyvm.runs(moddir) if _python(spec) else {}),
        kv=kvsuite.command(FLAVOURS["linux"].builddir, moddir), timeout_s=UK_TIMEOUT_S)


def _boot(spec: KernelSpec) -> dict:
    try:
        kernel = kernels.prepare(spec)
        with build_lock(f"kernel-{kernel.release}"):  # the runner may build it too
            moddir = build_modules(kernel)
    except (kernels.FetchError, BuildError, MakeSetupError) as e:
        # every item of the kernel fails with this, and nothing is retried
        return {"setup_error": f"{type(e).__name__}: {e}"}
    logdir = module_dir(kernel.release) / "vm"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    res = run_in_vm(kernel, _script(moddir, spec), timeout_s=VM_TIMEOUT_S, log_dir=logdir)
    dmesg = kernel_suites.kernel_log(res.output)
    (logdir / "dmesg.txt").write_text(dmesg)
    return {"returncode": res.returncode, "output": res.output, "release": kernel.release,
            "console_log": str(res.console_log), "duration_s": res.duration_s,
            "timed_out": res.timed_out, "error": res.error, "dmesg": dmesg}


def _kernel_run(spec: KernelSpec) -> tuple[VmResult, str]:
    """Boot once per test run and kernel, whichever worker asks first."""
    r = runonce.once(f"kernel-{spec.label}", lambda: _boot(spec))
    if "setup_error" in r:
        pytest.fail(f"{spec.label}: {r['setup_error']}")
    res = VmResult(r["returncode"], r["output"], Path(r["console_log"]), r["duration_s"],
                   r["timed_out"], r["error"])
    return res, r["dmesg"]


def _params() -> list:
    params = []
    for spec in _specs():
        group = pytest.mark.xdist_group(f"kernel-{spec.label}")
        params.append(pytest.param(spec, "", marks=[group, pytest.mark.vm],
                                   id=f"{spec.label}/load-run-unload"))
        python = ("uk-python", "ku-python") if _python(spec) else ()
        for direction in ("kk", *UK_RUNS, "ku", "ku-hostile", *python):
            if direction == "ku-hostile":
                names = list(KU_HOSTILE_CASES)
            elif "python" in direction:
                names = pyvm.cases(direction, _cases("ku"))
            else:
                names = _cases(direction)
            for name in names:
                params.append(pytest.param(spec, f"{direction}/{name}",
                                           marks=[group, pytest.mark.vm],
                                           id=f"{spec.label}/{direction}/{name}"))
        params += [pytest.param(spec, f"kv/{item}", marks=[group, pytest.mark.vm],
                                id=f"{spec.label}/kv/{item}") for item in kvsuite.items()]
    return params


def _vm_failure(res: VmResult) -> str:
    tail = "\n".join(res.output.strip().splitlines()[-40:])
    return (f"VM run failed (exit {res.returncode}, timed out: {res.timed_out}, "
            f"{res.error}); console: {res.console_log}\n{tail}")


@pytest.mark.parametrize("spec,scenario", _params())
def test_kernel(spec: KernelSpec, scenario: str) -> None:
    res, dmesg = _kernel_run(spec)
    assert res.returncode == 0 and dmesg, _vm_failure(res)
    log = kernel_suites.strip_timestamps(dmesg)
    if scenario == "":
        steps = kernel_suites.failed_steps(res.output)
        assert not steps, "\n".join(steps) + "\n" + log[-3000:]
        bad = kernel_suites.complaints(dmesg)
        assert not bad, "kernel complained:\n" + "\n".join(bad[:40])
        # K-U's backup commands (large_payload_backup, FORCE_BACKUP) took the
        # loopback TCP connection, not the device
        assert KU_TCP_LINE in between(res.output, "dmesg-ku"), log[-3000:]
        return
    direction, name = scenario.split("/", 1)
    if direction == "kv":
        ok, why = kvsuite.item_result(between(res.output, "kv"), name)
        assert ok, why
        return
    if direction in kernel_suites.KTAP_IN_KERNEL_LOG | pyvm.KTAP_IN_KERNEL_LOG:
        text = kernel_suites.kernel_ktap(between(res.output, f"dmesg-{direction}"))
    else:
        text = between(res.output, direction)
    run = ktap.parse(text)
    assert run.complete, f"{direction} conformance did not finish:\n{(text or log)[-3000:]}"
    case = run.by_name().get(name)
    assert case is not None, f"{name} not reported ({direction})"
    if case.status == "skip":
        pytest.skip(case.reason)
    assert case.status == "pass", "\n".join(case.diagnostics)
