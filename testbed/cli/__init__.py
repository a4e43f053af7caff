"""cse: the testbed command.

    cse list [CELL...]             the matrix cells and their last result
    cse matrix --github [CELL...]  the cells as a GitHub Actions matrix (JSON)
    cse run [CELL...] [-j N] [--keep] [--cell-timeout S] [--suite-timeout S]
                                   run the cells' suites, then write the reports
    cse shell CELL [--keep]        an interactive shell inside the cell
    cse report [merge DIR...]      write or merge reports
    cse compare BASE [NEW]         new failures, fixes, slower suites (exit 1 on
                                   a new failure: the CI regression gate)
    cse export --kcidb FILE        the results in KernelCI's KCIDB schema

CELL is an fnmatch pattern on cell ids (`cse list 'qemu-*'`).  With no CELL,
--tag chooses the cells by tier (repeatable: default, extended, canary, or
all); `cse run` runs the default and canary tiers, list and matrix show all.
Exit status: 0 ok; 1 a cell FAILed or ERRORed unexcused (run), a new
failure (compare), or a cell could not be set up (shell); 2 usage, matrix
or known-issues error, or `cse shell` without a terminal;
141 the reader of the output went away (`cse list | head`).  `cse shell`
exits with the shell's status.

One parser: each subcommand is a module of this package (cmd_<name>.py)
that adds its own subparser and handles its arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testbed import cliout
from testbed.cli import (
    cmd_compare,
    cmd_export,
    cmd_list,
    cmd_matrix,
    cmd_report,
    cmd_run,
    cmd_shell,
    common,
)
from testbed.matrix import MatrixError

#: the subcommands, in the order `cse --help` lists them
SUBCOMMANDS = (cmd_list, cmd_matrix, cmd_run, cmd_shell, cmd_report, cmd_compare, cmd_export)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matrix", type=Path, default=None,
                        help=f"the matrix file (default {common.DEFAULT_MATRIX})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    matrix = common.matrix_option()
    for command in SUBCOMMANDS:
        command.add_parser(sub, matrix)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`cse ARGV...` (sys.argv by default); its exit status."""
    args = sys.argv[1:] if argv is None else argv
    return cliout.run_quietly(lambda: _main(args))


def _main(argv: list[str]) -> int:
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        return int(args.handler(args))
    except MatrixError as e:
        print(f"cse: {e}", file=sys.stderr)
        return 2
