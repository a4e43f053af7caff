"""Builds on this host for the cells that share its filesystem (local, qemu).

The runner builds the cell's user-space flavour (testbed.builds) and, for
kernel suites, the modules for the cell's kernel (testbed.kbuild) before the
cell script runs; the script then runs the binaries in place.  Every build's
whole output goes to the cell's build.log, and each build directory is
locked while it builds: two cells of one `cse run -j 2` (local-linux and a
qemu cell both use build/linux) must not run ninja in one directory at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.builds import BUILD_ROOT, ROOT, BuildError, Flavour, ToolMissing, flavour_for, steps
from testbed.kbuild import MakeSetupError, build_modules, make_shown, module_dir
from testbed.kmake import Kernel
from testbed.matrix import Cell

__all__ = ["ToolMissing", "build_flavour", "build_kernel_modules", "host_flavour"]


def host_flavour(cell: Cell) -> Flavour:
    """The build flavour for @cell's target and backend; ValueError if none."""
    return flavour_for(cell.os, cell.arch, cell.libc, cell.compiler, cell.backend)


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock on build/<name>.lock (released on exit)."""
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with (BUILD_ROOT / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(cmd: list[str], log: Path, timeout_s: float, env: dict[str, str] | None = None) -> None:
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout_s, env=os.environ | (env or {}))
        except subprocess.TimeoutExpired as e:
            raise BuildError(f"{' '.join(cmd)} did not finish in {timeout_s:.0f} s "
                             f"(log: {log})") from e
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-30:])
        raise BuildError(f"{' '.join(cmd)} failed ({proc.returncode}); log: {log}\n{tail}")


def build_flavour(flavour: Flavour, log: Path, timeout_s: float = 1800) -> Path:
    """Check the toolchain (ToolMissing), configure (once) and compile
    @flavour, appending its output to @log."""
    with build_lock(flavour.name):
        for cmd, env in steps(flavour):
            _run(cmd, log, timeout_s, env)
    return flavour.builddir


def build_kernel_modules(kernel: Kernel, log: Path) -> Path:
    """Build cse.ko and cse_conformance.ko for @kernel; append its log to @log."""
    with build_lock(f"kernel-{kernel.release}"):
        try:
            out = build_modules(kernel)
        except MakeSetupError as e:
            raise ToolMissing(str(e)) from e
        finally:
            klog = module_dir(kernel.release) / "build.log"
            with log.open("a") as f:
                f.write(f"$ {make_shown(kernel, module_dir(kernel.release))}\n")
                if klog.is_file():
                    f.write(klog.read_text(errors="replace"))
    return out
