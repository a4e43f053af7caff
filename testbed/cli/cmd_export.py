"""`cse export --kcidb FILE`: a run's results in KernelCI's schema (KCIDB;
testbed/kcidb.py says what maps to what), checked against kcidb-io's schema
when that package is installed.

Exit status: 0 written; 2 when the run cannot be read or the document does
not validate (nothing is written then).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from testbed import kcidb
from testbed.cli import common
from testbed.compare import load_run
from testbed.report.files import atomic_write
from testbed.report.load import ReportError


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("export", parents=[common.report_dir_option("the run to export"),
                                          common.known_issues_option()],
                       help="the results in another system's format (KCIDB)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kcidb", type=Path, required=True, metavar="FILE",
                   help="write KernelCI's KCIDB JSON to FILE ('-': standard output)")
    p.add_argument("--log-url", default=None, metavar="URL",
                   help="where the report dir is published: log URLs are URL/<path> "
                        "(default: file URLs of the report dir)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    issues = common.load_known_issues(args)
    try:
        found = load_run(args.report_dir, issues)
    except ReportError as e:
        print(f"cse export: {e}", file=sys.stderr)
        return 2
    states = _issue_states(args.report_dir)
    data = kcidb.export(found.results, issues, states, args.report_dir, args.log_url)
    if why := kcidb.validate(data):
        print(f"cse export: the KCIDB document does not validate: {why}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=2) + "\n"
    if str(args.kcidb) == "-":
        sys.stdout.write(text)
    else:
        atomic_write(args.kcidb, text)
        print(f"wrote {common.shown(args.kcidb)}: {len(data['builds'])} builds, "
              f"{len(data['tests'])} tests, {len(data['issues'])} issues, "
              f"{len(data['incidents'])} incidents")
    return 0


def _issue_states(report_dir: Path) -> dict[str, str]:
    """Known issue id -> its state in the run's matrix.json (stale, active, ...)."""
    try:
        data = json.loads((report_dir / "matrix.json").read_text())
        return {str(i["id"]): str(i["state"]) for i in data.get("known_issues", [])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
