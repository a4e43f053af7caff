"""`cse matrix --github [CELL...]`: the cells as a CI system's job matrix."""

from __future__ import annotations

import argparse
import json
from typing import Any

from testbed.cli import common
from testbed.matrix import github_matrix


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("matrix", parents=[matrix, common.cells_options("all")],
                       help="the cells for a CI system")
    p.add_argument("--github", action="store_true", required=True,
                   help="print a GitHub Actions strategy.matrix as one line of JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cells = common.selected_cells(args, default_tags=None)
    print(json.dumps(github_matrix(cells), separators=(",", ":")))
    return 0
