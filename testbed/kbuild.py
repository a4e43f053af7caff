"""Build the kernel modules (cse.ko, cse_conformance.ko, and the kvstore example's
kvstore.ko and kvstore_client.ko in kvstore/) for a kernel, out of tree in
build/kernel/<release>/ (kernel/linux/Makefile does the work), the
way the kernel says make runs for it (testbed.kmake: on this host, or in its
release's chroot)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed.builds import BUILD_ROOT, ROOT, BuildError
from testbed.kmake import SETUP_FAILED, SETUP_TAG, Kernel

MODULES = ("cse.ko", "cse_conformance.ko", "kvstore/kvstore.ko", "kvstore/kvstore_client.ko")
MAKE_TIMEOUT_S = 1800


class MakeSetupError(RuntimeError):
    """make could not start for the kernel (no make, no unshare, a chroot
    that cannot be entered): the tool's fault, not the code's."""


def module_dir(release: str) -> Path:
    return BUILD_ROOT / "kernel" / release


def _make_args(kernel: Kernel, out: Path, extra: tuple[str, ...]) -> list[str]:
    return ["-C", str(ROOT / "kernel/linux"), f"KVER={kernel.release}", f"OUT={out}",
            f"KDIR={kernel.make.path(kernel.headers)}", *extra]


def make_argv(kernel: Kernel, out: Path, *extra: str) -> list[str]:
    """The command that builds the modules for @kernel into @out, with
    make arguments @extra (C=2 W=1: the kernel's own checks)."""
    return kernel.make.argv(_make_args(kernel, out, extra), binds=(ROOT, out))


def make_shown(kernel: Kernel, out: Path, *extra: str) -> str:
    """make_argv() as a log shows it."""
    return kernel.make.shown(_make_args(kernel, out, extra))


def run_make(kernel: Kernel, out: Path, *extra: str,
             timeout_s: float = MAKE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run make_argv(); its output is the result's stdout and stderr."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = make_argv(kernel, out, *extra)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"kernel module build for {kernel.release} did not finish in "
                         f"{timeout_s:.0f} s") from e
    except FileNotFoundError as e:
        raise MakeSetupError(f"cannot build for {kernel.release}: {cmd[0]} not found") from e
    if proc.returncode == SETUP_FAILED and SETUP_TAG in proc.stderr:
        why = proc.stderr[proc.stderr.index(SETUP_TAG):].strip()
        raise MakeSetupError(f"cannot build for {kernel.release}: {why}")
    if proc.returncode and proc.stderr.startswith("unshare: "):
        # no new mount namespace (not root): make never ran
        raise MakeSetupError(f"cannot build for {kernel.release} in its chroot: "
                             f"{proc.stderr.strip()}")
    return proc


def build_modules(kernel: Kernel) -> Path:
    """Compile the modules for @kernel; return the output dir."""
    out = module_dir(kernel.release)
    proc = run_make(kernel, out)
    log = out / "build.log"
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildError(f"kernel module build for {kernel.release} failed (log: {log}):\n"
                         f"{tail}")
    missing = [m for m in MODULES if not (out / m).is_file()]
    if missing:
        raise BuildError(f"kernel build for {kernel.release} produced no {', '.join(missing)}")
    return out
