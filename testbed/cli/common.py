"""What the subcommands share: where things are by default, the options
several of them take (--matrix, --tag, --report-dir), and choosing cells."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from testbed import known_issues
from testbed.builds import ROOT
from testbed.known_issues import KnownIssue
from testbed.matrix import DEFAULT_TAGS, TAGS, Cell, load_matrix, select

DEFAULT_MATRIX = ROOT / "ci" / "matrix.yaml"
DEFAULT_REPORT_DIR = ROOT / "report"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def matrix_option() -> argparse.ArgumentParser:
    """--matrix after the subcommand (`cse list --matrix X`); SUPPRESS as its
    default, so it does not overwrite the global one (`cse --matrix X list`)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--matrix", type=Path, default=argparse.SUPPRESS,
                   help=f"the matrix file (default {DEFAULT_MATRIX})")
    return p


def cells_options(default: str) -> argparse.ArgumentParser:
    """CELL... and --tag, for the subcommands that act on cells."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("cells", nargs="*", metavar="CELL", help="fnmatch patterns on cell ids")
    p.add_argument("--tag", action="append", choices=(*TAGS, "all"), default=None,
                   help=f"with no CELL: the cells of this tier (repeatable; default "
                        f"{default})")
    return p


def report_dir_option(what: str = "where results and reports go") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR,
                   help=f"{what} (default {DEFAULT_REPORT_DIR})")
    return p


def known_issues_option(nested: bool = False) -> argparse.ArgumentParser:
    """--known-issues FILE; @nested for a sub-subcommand (report merge), whose
    default must not overwrite the one given before it."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--known-issues", type=Path,
                   default=argparse.SUPPRESS if nested else None, metavar="FILE",
                   help=f"failures this file matches are KNOWN, not FAIL (default "
                        f"{known_issues.DEFAULT_FILE}, when it exists)")
    return p


def strict_option() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--strict", action="store_true",
                   help="KNOWN and FLAKY fail the command too (excused failures count)")
    return p


def load_known_issues(args: argparse.Namespace) -> list[KnownIssue]:
    """The known issues of --known-issues (default: ci/known-issues.yaml if
    it exists); MatrixError when the file is invalid."""
    return known_issues.load_default(args.known_issues)


def selected_cells(args: argparse.Namespace, default_tags: tuple[str, ...] | None
                   ) -> list[Cell]:
    """The cells args.cells and args.tag choose from args.matrix; with
    neither, those of @default_tags (None: all).  MatrixError if the matrix
    is invalid or a pattern matches nothing."""
    tags: tuple[str, ...] | None = tuple(args.tag) if args.tag else default_tags
    if tags is not None and "all" in tags:
        tags = None
    return select(load_matrix(args.matrix or DEFAULT_MATRIX), args.cells, tags)


def shown(path: Path) -> str:
    """@path relative to the current directory when it is below it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


__all__ = ["DEFAULT_MATRIX", "DEFAULT_REPORT_DIR", "DEFAULT_TAGS", "cells_options",
           "matrix_option", "positive_int", "report_dir_option", "selected_cells", "shown"]
