"""`cse report`: render the matrix reports from saved results, or merge the
report dirs of many CI runners and render those.

    cse report [--report-dir DIR] [--matrix FILE | --no-matrix] [--update-readme FILE]
        re-render DIR/matrix.json, junit/, matrix.md, matrix.html and
        support.md from DIR/cells/*/result.json (DIR defaults to the
        checkout's report/); --update-readme puts support.md's table between
        FILE's support-table markers
    cse report merge DIR... [-o OUT] [--matrix FILE | --no-matrix] [--history DIR]
        copy every cell of each DIR (DIR/cells/<cell>/ with its logs, or the
        cells of DIR/matrix.json) into OUT/cells/, the newest run of a cell
        winning, then render OUT as above (OUT defaults to report/); a cell
        of the matrix that no DIR has is recorded as ERROR (culprit harness:
        its runner died); each DIR's history/ and --history DIR join OUT's

Cells of the matrix (default ci/matrix.yaml) without a result are shown as
NOT RUN by `cse report`; --no-matrix shows only the results.  Every
rendering adds each cell's run to OUT/history/ (the last 20 runs a cell).
Failures that a known issue (--known-issues, default ci/known-issues.yaml)
matches are shown as KNOWN.
The paths written are printed.

Exit status: 0 when the reports were written from good input; 2 on bad input
(a result.json or matrix.json that cannot be read, a DIR holding no results,
an invalid matrix, bad usage), with a message naming the file; the reports
are still written from everything else when there is anything.  FAIL or
ERROR cells do not change the exit status: a report of a failing run is
still a good report (`cse run` and `cse compare` are what fail a CI job).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from testbed.cli import common
from testbed.matrix import Cell, load_matrix
from testbed.report.load import ReportError
from testbed.report.merge import merge
from testbed.report.render import write_all
from testbed.report.support import ReadmeError, update_readme


def _matrix_choice(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--matrix", type=Path, default=argparse.SUPPRESS,
                       help=f"show the cells of this matrix that have no result as NOT RUN "
                            f"(default {common.DEFAULT_MATRIX})")
    group.add_argument("--no-matrix", action="store_true",
                       help="show only the cells that have results")


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("report", parents=[common.report_dir_option("the report dir"),
                                          common.known_issues_option()],
                       help="write or merge reports", description=__doc__, formatter_class=fmt)
    p.add_argument("--update-readme", type=Path, default=None, metavar="FILE",
                   help="put the support table between FILE's support-table markers")
    _matrix_choice(p)
    p.set_defaults(handler=run, merging=False)
    what = p.add_subparsers(dest="report_command", metavar="merge", required=False)
    m = what.add_parser("merge", help="join the report dirs of many CI runners",
                        description=__doc__, formatter_class=fmt,
                        parents=[common.known_issues_option(nested=True)])
    m.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="report dirs, e.g. CI artifacts as downloaded")
    m.add_argument("-o", "--output", type=Path, default=common.DEFAULT_REPORT_DIR,
                   help=f"the merged report dir (default {common.DEFAULT_REPORT_DIR})")
    m.add_argument("--history", type=Path, action="append", default=[], metavar="DIR",
                   help="also keep the runs of this history folder (an earlier report's "
                        "history/, e.g. the default branch's last); repeatable")
    _matrix_choice(m)
    m.set_defaults(handler=run, merging=True)


def _matrix(args: argparse.Namespace, prog: str) -> list[Cell] | None:
    """The matrix's cells, None with --no-matrix; MatrixError if invalid."""
    if args.no_matrix:
        return None
    if args.matrix is None and not common.DEFAULT_MATRIX.is_file():
        print(f"{prog}: note: no {common.DEFAULT_MATRIX}; showing only cells with results",
              file=sys.stderr)
        return None
    return load_matrix(args.matrix or common.DEFAULT_MATRIX)


def _print_written(written: dict[str, Path]) -> None:
    for path in written.values():
        print(f"wrote {common.shown(path)}")


def run(args: argparse.Namespace) -> int:
    """`cse report [merge]`; the exit status (module docstring).  An invalid
    matrix is a MatrixError, which the cse command reports (status 2)."""
    prog = "cse report merge" if args.merging else "cse report"
    cells = _matrix(args, prog)
    issues = common.load_known_issues(args)
    try:
        if args.merging:
            written = merge(args.dirs, args.output, cells,
                            warn=lambda msg: print(f"{prog}: warning: {msg}", file=sys.stderr),
                            issues=issues, history=args.history)
        else:
            written = write_all(args.report_dir, cells, issues)
    except ReportError as e:
        _print_written(e.written)
        for line in str(e).splitlines():
            print(f"{prog}: error: {line}", file=sys.stderr)
        if e.written:
            print(f"{prog}: the reports above were still written from the readable results",
                  file=sys.stderr)
        return 2
    _print_written(written)
    readme = None if args.merging else args.update_readme
    if readme is not None:
        try:
            changed = update_readme(readme, written["support.md"].read_text())
        except (OSError, ReadmeError) as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        print(f"{'updated' if changed else 'unchanged'}: {common.shown(readme)}")
    return 0
