"""cse: the testbed command.

    cse list [CELL...]             the matrix cells and their last result
    cse matrix --github [CELL...]  the cells as a GitHub Actions matrix (JSON)
    cse run | report | shell       not implemented yet (exit 2)

CELL is an fnmatch pattern on cell ids (`cse list 'qemu-*'`); none means all.
Exit status: 0 ok, 2 usage, matrix error or not implemented.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from testbed.builds import ROOT
from testbed.matrix import Cell, MatrixError, github_matrix, load_matrix, select

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
    for name in ("cell", "provisioner", "image / kernel", "arch", "libc", "backend", "suites",
                 "last result"):
        table.add_column(name, no_wrap=True)
    table.add_column("skip reason", min_width=20)
    for c in cells:
        status = results.get(c.id)
        shown = f"[{_STYLE.get(status, 'bold')}]{escape(status)}[/]" if status else \
            "[dim]never run[/]"
        table.add_row(c.id, c.provisioner, escape(_where(c)), c.arch, c.libc, c.backend,
                      " ".join(c.suites), shown, escape(c.skip_reason or ""))
    console = Console()
    if not console.is_terminal:  # a CI log or a pipe: one line per cell
        console.width = max(console.width, 200)
    console.print(table)
    return 0


def _not_implemented(args: argparse.Namespace) -> int:
    print(f"cse {args.command}: not implemented yet; this slice of the testbed has "
          f"`cse list` and `cse matrix --github`", file=sys.stderr)
    return 2


def _parser() -> argparse.ArgumentParser:
    matrix_opt = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `cse list --matrix X` sets it, `cse --matrix X list` is not overwritten
    matrix_opt.add_argument("--matrix", type=Path, default=argparse.SUPPRESS,
                            help=f"the matrix file (default {DEFAULT_MATRIX})")
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
    for name, what in (("run", "run the suites of cells"),
                       ("report", "write or merge reports"),
                       ("shell", "open a shell in a cell")):
        p = sub.add_parser(name, parents=[matrix_opt], help=f"{what} (not implemented yet)")
        p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "report", "shell"):
        return _not_implemented(args)
    try:
        cells = select(load_matrix(args.matrix), args.cells)
    except MatrixError as e:
        print(f"cse: {e}", file=sys.stderr)
        return 2
    if args.command == "list":
        return _list(cells)
    print(json.dumps(github_matrix(cells), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
