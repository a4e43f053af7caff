"""cse: the testbed command.

    cse list [CELL...]             the matrix cells and their last result
    cse matrix --github [CELL...]  the cells as a GitHub Actions matrix (JSON)
    cse run [CELL...] [-j N] [--keep] [--cell-timeout S] [--suite-timeout S]
                                   run the cells' suites, then write the reports
    cse shell CELL [--keep]        an interactive shell inside the cell
    cse report [ARGS...]           write or merge reports (testbed.report)

CELL is an fnmatch pattern on cell ids (`cse list 'qemu-*'`).  With no CELL,
--tag chooses the cells by tier (repeatable: default, extended, canary, or
all); `cse run` runs the default and canary tiers, list and matrix show all.
Exit status: 0 ok; 1 a cell FAILed or ERRORed (run), or could not be set up
(shell); 2 usage or matrix error, or `cse shell` without a terminal;
141 the reader of the output went away (`cse list | head`).  `cse shell`
exits with the shell's status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich import box
from rich.markup import escape
from rich.table import Table

from testbed import cli_run, cliout
from testbed.builds import ROOT
from testbed.matrix import DEFAULT_TAGS, TAGS, Cell, MatrixError, github_matrix, load_matrix, select

DEFAULT_MATRIX = ROOT / "ci" / "matrix.yaml"
#: the runner's summary: {"cells": {"<cell id>": {"status": "PASS", ...}, ...}}
REPORT_JSON = ROOT / "report" / "matrix.json"

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold red", "SKIP": "yellow"}


def _last_results(path: Path) -> dict[str, str]:
    """Cell id -> status from the last run's matrix.json; {} if there is none."""
    if not path.exists():
        return {}
    try:
        cells = json.loads(path.read_text())["cells"]
        return {cid: str(r["status"]).upper() for cid, r in cells.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"cse: ignoring unreadable {path}: {e!r}", file=sys.stderr)
        return {}


def _where(cell: Cell) -> str:
    where = cell.image or "-"
    return where if cell.provisioner != "qemu" else f"{where} / {cell.kernel}"


def _list(cells: list[Cell]) -> int:
    results = _last_results(REPORT_JSON)
    table = Table(title="CSE test matrix", box=box.SIMPLE_HEAD)
    for name in ("cell", "provisioner", "image / kernel", "arch", "libc", "compiler",
                 "backend", "suites", "tags", "last result"):
        table.add_column(name, no_wrap=True)
    table.add_column("skip reason", min_width=20)
    for c in cells:
        status = results.get(c.id)
        shown = f"[{_STYLE.get(status, 'bold')}]{escape(status)}[/]" if status else \
            "[dim]never run[/]"
        tags = " ".join(c.tags) + (" (may fail)" if c.allow_failure else "")
        table.add_row(c.id, c.provisioner, escape(_where(c)), c.arch, c.libc, c.compiler,
                      c.backend, " ".join(c.suites), tags, shown, escape(c.skip_reason or ""))
    cliout.console().print(table)
    return 0


def _parser() -> argparse.ArgumentParser:
    matrix_opt = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `cse list --matrix X` sets it, `cse --matrix X list` is not overwritten
    matrix_opt.add_argument("--matrix", type=Path, default=argparse.SUPPRESS,
                            help=f"the matrix file (default {DEFAULT_MATRIX})")
    matrix_opt.add_argument("--tag", action="append", choices=(*TAGS, "all"), default=None,
                            help="with no CELL: the cells of this tier (repeatable; `run` "
                                 f"defaults to {' and '.join(DEFAULT_TAGS)}, the others "
                                 "to all)")
    parser = argparse.ArgumentParser(prog="cse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX,
                        help=f"the matrix file (default {DEFAULT_MATRIX})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[matrix_opt], help="the cells and their last result")
    p.add_argument("cells", nargs="*", metavar="CELL", help="fnmatch patterns on cell ids")
    p = sub.add_parser("matrix", parents=[matrix_opt], help="the cells for a CI system")
    p.add_argument("--github", action="store_true", required=True,
                   help="print a GitHub Actions strategy.matrix as one line of JSON")
    p.add_argument("cells", nargs="*", metavar="CELL", help="fnmatch patterns on cell ids")
    cli_run.add_parsers(sub, matrix_opt)
    return parser


def _report_argv(argv: list[str]) -> list[str] | None:
    """The arguments of `cse [--matrix M] report ARGS...` for testbed.report's
    own parser (a global --matrix is handed on), or None for other commands.
    argparse cannot pass options it does not know through a subcommand."""
    i, lead = 0, []
    while i < len(argv) and argv[i].startswith("--matrix"):
        step = 1 if "=" in argv[i] else 2
        lead, i = lead + argv[i:i + step], i + step
    return [*lead, *argv[i + 1:]] if argv[i:i + 1] == ["report"] else None


def main(argv: list[str] | None = None) -> int:
    """`cse ARGV...` (sys.argv by default); its exit status."""
    args = sys.argv[1:] if argv is None else argv
    return cliout.run_quietly(lambda: _main(args))


def _main(argv: list[str]) -> int:
    if (report_args := _report_argv(argv)) is not None:
        return cli_run.report(report_args)
    args = _parser().parse_args(argv)
    tags: tuple[str, ...] | None = tuple(args.tag) if args.tag else \
        DEFAULT_TAGS if args.command == "run" else None
    if tags is not None and "all" in tags:
        tags = None
    try:
        cells = select(load_matrix(args.matrix), args.cells, tags)
    except MatrixError as e:
        print(f"cse: {e}", file=sys.stderr)
        return 2
    if args.command == "run":
        return cli_run.run(cells, args)
    if args.command == "shell":
        return cli_run.shell(cells, args)
    if args.command == "list":
        return _list(cells)
    print(json.dumps(github_matrix(cells), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
