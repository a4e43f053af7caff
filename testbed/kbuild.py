"""Build the kernel modules (cse.ko, cse_conformance.ko) for a kernel release,
out of tree in build/kernel/<release>/ (kernel/linux/Makefile does the work)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed.builds import BUILD_ROOT, ROOT, BuildError

MODULES = ("cse.ko", "cse_conformance.ko")


def module_dir(release: str) -> Path:
    return BUILD_ROOT / "kernel" / release


def build_modules(release: str, headers: Path | None = None,
                  make_args: tuple[str, ...] = ()) -> Path:
    """Compile the modules against @release's headers (with @make_args, e.g.
    ARCH= and CROSS_COMPILE= for another arch); return the output dir."""
    out = module_dir(release)
    cmd = ["make", "-C", str(ROOT / "kernel/linux"), f"KVER={release}", f"OUT={out}"]
    if headers is not None:
        cmd.append(f"KDIR={headers}")
    cmd += make_args
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = out / "build.log"
    out.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildError(f"kernel module build for {release} failed (log: {log}):\n{tail}")
    missing = [m for m in MODULES if not (out / m).is_file()]
    if missing:
        raise BuildError(f"kernel build for {release} produced no {', '.join(missing)}")
    return out
