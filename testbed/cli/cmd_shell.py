"""`cse shell CELL`: an interactive shell inside one cell, with what it needs
built (the host build, or the source staged in the cell; the kernel modules
for a cell that boots its own kernel)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from testbed import cellscript, runner
from testbed.builds import ROOT, BuildError
from testbed.cli import common
from testbed.hostbuild import ToolMissing, build_flavour, build_kernel_modules, host_flavour
from testbed.matrix import Cell
from testbed.provision import ProvisionError, provisioner_for
from testbed.safepath import inside


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("shell", parents=[matrix, common.report_dir_option()],
                       help="an interactive shell inside a cell")
    p.add_argument("cells", nargs=1, metavar="CELL", help="the cell (id or a pattern)")
    p.add_argument("--keep", action="store_true",
                   help="leave the cell up when the shell exits (containers)")
    p.set_defaults(handler=run, tag=None)


def _say(what: str) -> None:
    print(f"cse shell: {what}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Prepare the cell, then run its provisioner's shell here, interactively."""
    cells = common.selected_cells(args, default_tags=None)
    if len(cells) != 1:
        _say(f"{args.cells[0]!r} matches {len(cells)} cells "
             f"({', '.join(c.id for c in cells)}): name one")
        return 2
    cell = cells[0]
    if cell.skip_reason:
        _say(f"{cell.id} cannot run here: {cell.skip_reason}")
        return 2
    if not sys.stdin.isatty():
        _say("needs a terminal: its standard input is not one (run it from an "
             "interactive shell; to run the suites, use `cse run`)")
        return 2
    logdir = inside(args.report_dir.resolve() / "shell", cell.id)
    try:
        p = provisioner_for(cell, logdir)
    except (ProvisionError, ImportError) as e:
        _say(f"no {cell.provisioner} provisioner: {e}")
        return 1
    if (why := p.unavailable()) is not None:
        _say(f"{cell.id} cannot run here: {why}")
        return 2
    if not p.capabilities.shell:
        _say(f"{cell.provisioner} cells have no interactive shell")
        return 2
    env = dict(os.environ)
    try:
        _say(f"preparing {cell.id} ({cell.provisioner})")
        p.prepare()
        p.start()
        env |= _shell_build(cell, p)
        argv = p.shell_argv()
    except (ProvisionError, ToolMissing, BuildError) as e:
        _say(f"{cell.id} could not be set up: {e}")
        p.stop(keep=args.keep)
        return 1
    shown = [f"{a.split(os.pathsep)[0]}{os.pathsep}$PATH" if a.startswith("PATH=") else a
             for a in argv]
    _say(f"opening a shell: {shlex.join(shown)}")
    try:
        rc = subprocess.call(argv, cwd=ROOT, env=env)
    finally:
        p.stop(keep=args.keep)
        if args.keep:
            _say(f"{cell.id} left up (--keep)")
    return rc


def _shell_build(cell: Cell, p: Any) -> dict[str, str]:
    """Build what the shell needs and say where it is; the variables to set."""
    if not p.shares_host_fs:
        with tempfile.TemporaryDirectory(prefix="cse-stage-") as tmp:
            p.put(runner.make_source_tarball(Path(tmp) / "src.tar"),
                  str(cellscript.STAGED_WORKDIR / "src.tar"))
        _say(f"the source is staged as {cellscript.STAGED_WORKDIR}/src.tar; to build: "
             f"mkdir src && tar -xf {cellscript.STAGED_WORKDIR}/src.tar -C src && "
             f"meson setup build src {shlex.join(cellscript.meson_options(cell))}")
        return {}
    flavour = host_flavour(cell)
    log = p.logdir / "build.log"
    _say(f"building {flavour.builddir} (log: {log})")
    builddir = build_flavour(flavour, log)
    out = {"CSE_BUILDDIR": str(builddir)}
    if why := p.cannot_run(flavour):
        _say(f"{cell.id} is build-only here ({why}): its programs are in {builddir}")
        return out
    prefix, env = p.program_prefix(flavour)
    out |= env
    _say(f"U-U conformance: {shlex.join([*prefix, str(builddir / cellscript.CONFORMANCE)])}"
         + (f" (environment set: {', '.join(env)})" if env else ""))
    if p.capabilities.kernel_suites:
        kernel = p.module_kernel()
        moddir = build_kernel_modules(kernel, log)
        out["CSE_MODDIR"] = str(moddir)
        _say(f"booting {kernel.release}; in the VM: insmod {moddir}/cse.ko; "
             f"insmod {moddir}/cse_conformance.ko run_kk=0")
    return out
