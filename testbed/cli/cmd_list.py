"""`cse list [CELL...]`: the matrix cells, their last result and why a cell
cannot run here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from testbed import cliout
from testbed.cli import common
from testbed.matrix import Cell
from testbed.runview import styled


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("list", parents=[matrix, common.cells_options("all"),
                                        common.report_dir_option("whose matrix.json has the "
                                                                 "last results")],
                       help="the cells and their last result")
    p.set_defaults(handler=run)


def last_results(path: Path) -> dict[str, str]:
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
    return where if cell.kernel == "host" else f"{where} / {cell.kernel}"


def run(args: argparse.Namespace) -> int:
    cells = common.selected_cells(args, default_tags=None)
    results = last_results(args.report_dir / "matrix.json")
    table = Table(title="CSE test matrix", box=box.SIMPLE_HEAD)
    for name in ("cell", "provisioner", "image / kernel", "arch", "libc", "compiler",
                 "backend", "suites", "tags", "last result"):
        table.add_column(name, no_wrap=True)
    table.add_column("skip reason", min_width=20)
    for c in cells:
        status = results.get(c.id)
        shown = styled(status) if status else "[dim]never run[/]"
        tags = " ".join(c.tags) + (" (may fail)" if c.allow_failure else "")
        table.add_row(c.id, c.provisioner, escape(_where(c)), c.arch, c.libc, c.compiler,
                      c.backend, " ".join(c.suites), tags, shown, escape(c.skip_reason or ""))
    cliout.console().print(table)
    return 0
