"""`cse compare BASE [NEW]`: the regression gate between two runs (report
dirs or matrix.json files; NEW defaults to report/).  testbed/compare.py
says what counts as what.

Exit status: 1 on a new failure no excuse covers (KNOWN, FLAKY and the
failures of cells allowed to fail never count; --strict counts new KNOWN
and FLAKY too); 0 otherwise; 2 when a run cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from testbed import cliout, compare_view
from testbed.cli import common
from testbed.compare import compare, load_run
from testbed.report.files import atomic_write
from testbed.report.load import ReportError


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("compare", parents=[common.known_issues_option(),
                                           common.strict_option()],
                       help="new failures, fixes and slower suites between two runs",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", type=Path, metavar="BASE",
                   help="the earlier run: a report dir or its matrix.json")
    p.add_argument("new", type=Path, metavar="NEW", nargs="?",
                   default=common.DEFAULT_REPORT_DIR,
                   help=f"the run to judge (default {common.DEFAULT_REPORT_DIR})")
    p.add_argument("--markdown", action="store_true",
                   help="print markdown (for $GITHUB_STEP_SUMMARY) instead of tables")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="also write the markdown to FILE")
    p.add_argument("--slower", type=_percent, default=50.0, metavar="PCT",
                   help="a suite this many percent slower is listed (default 50)")
    p.add_argument("--min-seconds", type=_percent, default=10.0, metavar="S",
                   help="... and at least this many seconds slower (default 10)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    issues = common.load_known_issues(args)
    try:
        base, new = load_run(args.base, issues), load_run(args.new, issues)
    except ReportError as e:
        for line in str(e).splitlines():
            print(f"cse compare: {line}", file=sys.stderr)
        return 2
    result = compare(base, new, slower_pct=args.slower, min_seconds=args.min_seconds)
    text = compare_view.markdown(result, args.strict)
    if args.output is not None:
        atomic_write(args.output, text)
    if args.markdown:
        print(text, end="")
    else:
        compare_view.print_terminal(result, cliout.console(), args.strict)
    return 1 if result.gate_fails(args.strict) else 0
