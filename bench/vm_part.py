"""The VM part of `make bench`: user-to-kernel round trips, measured inside a
QEMU VM (this machine's kernel cannot load modules) with cse.ko and a kernel
conformance server loaded: a bare ioctl into cse.ko, an io_uring NOP, and a
synchronous CSE command to the kernel server, spinning and not.  Under TCG
absolute times mean little; the ratios, measured side by side in one VM,
are the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testbed.kbuild import build_modules, module_dir
from testbed.vm import between, default_kernel, run_in_vm, section

UK_MECHS = ("ioctl", "io_uring_nop", "cse_uk_spin", "cse_uk_nospin")


def run_vm_part(build: Path, iters: int) -> tuple[list[dict[str, Any]], str]:
    """Boot the default kernel, run bench-uk; return its records and the log path."""
    kernel = default_kernel()
    moddir = build_modules(kernel.release, kernel.headers)
    bench = build.resolve() / "bench" / "bench-uk"
    script = (f"insmod {moddir}/cse.ko\n"
              f"insmod {moddir}/cse_conformance.ko run_kk=0\n"
              + section("bench", f"{bench} kconf-inline {iters}")
              + "rmmod cse_conformance\nrmmod cse\n")
    logdir = module_dir(kernel.release) / "bench-vm"
    res = run_in_vm(kernel, script, timeout_s=1800, log_dir=logdir)
    records = []
    for line in between(res.output, "bench").splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            rec["kernel"] = kernel.release
            records.append(rec)
    return records, str(res.console_log)


def ratio_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """[mechanism, p50 ns, p50 / bare ioctl, p50 / io_uring NOP] per mechanism."""
    p50 = {r["mechanism"]: r["p50_ns"] for r in records}
    rows = []
    for mech in UK_MECHS:
        if mech not in p50:
            rows.append([mech, "not run", "", ""])
            continue
        vs = [f"{p50[mech] / p50[base]:.2f}x" if p50.get(base) else "n/a"
              for base in ("ioctl", "io_uring_nop")]
        rows.append([mech, f"{p50[mech]}", *vs])
    return rows
