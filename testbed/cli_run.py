"""`cse run`, `cse shell` and `cse report`: the commands that act on cells.

`cse run` runs the selected cells (testbed.parallel: -j 1 here, -j N through
pytest-xdist), shows their progress and the final matrix table, writes the
reports (testbed.report.write_all) and exits 0 only when no cell FAILed or
ERRORed.  `cse shell` opens the provisioner's interactive shell in one cell.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from testbed import cellscript, cliout, runner, runview
from testbed.builds import ROOT, BuildError
from testbed.hostbuild import ToolMissing, build_flavour, build_kernel_modules, host_flavour
from testbed.matrix import Cell, load_matrix
from testbed.parallel import ParallelError, run_cells
from testbed.provision import ProvisionError, provisioner_for
from testbed.results import fails_the_run
from testbed.safepath import inside

DEFAULT_REPORT_DIR = ROOT / "report"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parsers(sub: Any, matrix_opt: argparse.ArgumentParser) -> None:
    """The run, shell and report subcommands (sub: argparse's subparsers)."""
    report_opt = argparse.ArgumentParser(add_help=False)
    report_opt.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR,
                            help=f"where results and reports go (default {DEFAULT_REPORT_DIR})")
    p = sub.add_parser("run", parents=[matrix_opt, report_opt],
                       help="run the cells' suites and write the reports")
    p.add_argument("cells", nargs="*", metavar="CELL", help="fnmatch patterns on cell ids")
    p.add_argument("-j", "--jobs", type=_positive_int, default=2,
                   help="cells run at once (default 2; 1 runs them here, without xdist)")
    p.add_argument("--keep", action="store_true",
                   help="leave failed cells up (containers) for `cse shell`")
    for opt, default, what in (("--cell-timeout", runner.DEFAULT_CELL_TIMEOUT_S, "cell"),
                               ("--suite-timeout", runner.DEFAULT_SUITE_TIMEOUT_S, "suite")):
        p.add_argument(opt, type=_positive_int, default=default, metavar="S",
                       help=f"seconds per {what} (default {default})")

    p = sub.add_parser("shell", parents=[matrix_opt, report_opt],
                       help="an interactive shell inside a cell")
    p.add_argument("cells", nargs=1, metavar="CELL", help="the cell (id or a pattern)")
    p.add_argument("--keep", action="store_true",
                   help="leave the cell up when the shell exits (containers)")

    p = sub.add_parser("report", help="write or merge reports (see `cse report --help`)",
                       add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _report_module() -> Any:
    """testbed.report, imported when needed: it is another part of the testbed."""
    try:
        import testbed.report as report  # lazily: see the docstring
    except ImportError as e:
        raise RuntimeError(f"cannot write the reports: the testbed.report package is "
                           f"missing or broken ({e})") from e
    return report


def run(cells: list[Cell], args: argparse.Namespace) -> int:
    if args.suite_timeout >= args.cell_timeout:
        print(f"cse run: --suite-timeout ({args.suite_timeout} s) must be shorter than "
              f"--cell-timeout ({args.cell_timeout} s)", file=sys.stderr)
        return 2
    opts = runner.RunOptions(report_dir=args.report_dir.resolve(), cell_timeout_s=args.cell_timeout,
                      suite_timeout_s=args.suite_timeout, keep=args.keep,
                      token=uuid.uuid4().hex)
    console = cliout.console()
    try:
        with runview.ProgressView(cells, opts, console):
            results = run_cells(cells, opts, args.jobs)
    except ParallelError as e:
        print(f"cse run: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cse run: interrupted; the cells that finished have their result.json",
              file=sys.stderr)
        return 130
    console.print(runview.final_table(cells, results))
    bad = [r for r in results.values() if fails_the_run(r)]
    try:
        # every matrix cell, so those not run this time are listed as such
        written = _report_module().write_all(opts.report_dir,
                                             matrix_cells=load_matrix(args.matrix))
    except Exception as e:  # any failure to report is shown, and the run fails
        print(f"cse run: cannot write the reports: {e}", file=sys.stderr)
        return 1
    console.print(f"results: {_shown(opts.report_dir / 'cells')}/<cell>/; reports in "
                  f"{_shown(opts.report_dir)}/: {_names(opts.report_dir, written)}",
                  highlight=False)
    return 1 if bad else 0


def _shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _names(report_dir: Path, written: dict[str, Path]) -> str:
    """matrix.json, junit/, ...: the reports written, one entry per top-level name."""
    names: list[str] = []
    for path in written.values():
        rel = Path(path).resolve().relative_to(report_dir) if Path(path).resolve() \
            .is_relative_to(report_dir) else Path(path)
        name = rel.parts[0] + ("/" if len(rel.parts) > 1 else "")
        if name not in names:
            names.append(name)
    return ", ".join(names)


def report(argv: list[str]) -> int:
    try:
        module = _report_module()
        import testbed.report.cli as report_cli
    except (RuntimeError, ImportError) as e:
        print(f"cse report: {e}", file=sys.stderr)
        return 2
    del module
    return int(report_cli.main(argv))


def _say(what: str) -> None:
    print(f"cse shell: {what}", file=sys.stderr, flush=True)


def shell(cells: list[Cell], args: argparse.Namespace) -> int:
    """Prepare the cell, then run its provisioner's shell here, interactively."""
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
