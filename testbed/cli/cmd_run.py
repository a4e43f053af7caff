"""`cse run [CELL...]`: run the cells' suites, then write the reports.

The cells run through testbed.parallel (-j 1 here, -j N through
pytest-xdist); their progress shows while they run, then the final matrix
table; the reports are written (testbed.report.write_all) and the exit
status is 1 when a cell FAILed or ERRORed unexcused (testbed/excuses.py:
a known issue of ci/known-issues.yaml makes a failure KNOWN; --strict
counts KNOWN and FLAKY too).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from testbed import cliout, known_issues, runner, runview, shards
from testbed.cli import common
from testbed.excuses import fails_the_run
from testbed.matrix import DEFAULT_TAGS, Cell, load_matrix
from testbed.parallel import ParallelError, run_cells


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("run", parents=[matrix, common.cells_options(" and ".join(DEFAULT_TAGS)),
                                       common.report_dir_option(),
                                       common.known_issues_option(), common.strict_option()],
                       help="run the cells' suites and write the reports")
    p.add_argument("-j", "--jobs", type=common.positive_int, default=2,
                   help="cells run at once (default 2; 1 runs them here, without xdist)")
    p.add_argument("--keep", action="store_true",
                   help="leave failed cells up (containers) for `cse shell`")
    p.add_argument("--retries", type=_count, default=0, metavar="N",
                   help="rerun a failed test (or a suite whose tests cannot run alone) up "
                        "to N times in the same cell; failed then passed is FLAKY")
    p.add_argument("--repeat", type=common.positive_int, default=1, metavar="N",
                   help="run every suite N times (stress); a test failing once FAILs")
    p.add_argument("--failed", action="store_true",
                   help="only the cells whose last result (the report dir's matrix.json) "
                        "was FAIL, ERROR, FLAKY or KNOWN; with no CELL or --tag, of any tier")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="only shard I of N of the selected cells (deterministic, balanced "
                        "by each cell's last duration)")
    p.add_argument("--durations", type=Path, default=None, metavar="FILE",
                   help="a matrix.json (or report dir) with the last durations --shard "
                        "balances by; every shard must see the same one (in CI: the "
                        "baseline's). Without it, every cell weighs the same")
    for opt, default, what in (("--cell-timeout", runner.DEFAULT_CELL_TIMEOUT_S, "cell"),
                               ("--suite-timeout", runner.DEFAULT_SUITE_TIMEOUT_S, "suite")):
        p.add_argument(opt, type=common.positive_int, default=default, metavar="S",
                       help=f"seconds per {what} (default {default})")
    p.set_defaults(handler=run)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _cells(args: argparse.Namespace) -> list[Cell] | None:
    """The cells to run: selected, then --failed, then --shard; None after
    saying why there are none to choose from (exit 2)."""
    cells = common.selected_cells(args, None if args.failed else DEFAULT_TAGS)
    if args.failed:
        if not shards.last_results(args.report_dir):
            print(f"cse run --failed: no last results in {common.shown(args.report_dir)}"
                  f"/matrix.json", file=sys.stderr)
            return None
        cells = shards.failed_last_time(cells, args.report_dir)
    if args.shard:
        try:
            index, n = shards.parse_shard(args.shard)
        except shards.ShardError as e:
            print(f"cse run: {e}", file=sys.stderr)
            return None
        # not the report dir's own durations: an earlier shard of this run
        # changes them, and the shards would no longer add up
        known = shards.durations(args.durations) if args.durations else {}
        cells = shards.shard(cells, index, n, known)
    return cells


def run(args: argparse.Namespace) -> int:
    chosen = _cells(args)
    if chosen is None:
        return 2
    cells = chosen
    if not cells:
        print("cse run: no cell to run (" + ("none failed last time" if args.failed
                                            else "this shard is empty") + ")")
        return 0
    issues = common.load_known_issues(args)  # checked before anything runs
    if args.suite_timeout >= args.cell_timeout:
        print(f"cse run: --suite-timeout ({args.suite_timeout} s) must be shorter than "
              f"--cell-timeout ({args.cell_timeout} s)", file=sys.stderr)
        return 2
    opts = runner.RunOptions(report_dir=args.report_dir.resolve(),
                             cell_timeout_s=args.cell_timeout,
                             suite_timeout_s=args.suite_timeout, keep=args.keep,
                             token=uuid.uuid4().hex, retries=args.retries, repeat=args.repeat)
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
    # the run's own record stays as it is; what it shows has the known issues applied
    shown = known_issues.apply(results, issues).results
    console.print(runview.final_table(cells, shown))
    bad = [r for r in shown.values() if fails_the_run(r, args.strict)]
    try:
        import testbed.report as report  # the reports are another part of the testbed

        # every matrix cell, so those not run this time are listed as such
        matrix = load_matrix(args.matrix or common.DEFAULT_MATRIX)
        written = report.write_all(opts.report_dir, matrix_cells=matrix, issues=issues)
    except Exception as e:  # any failure to report is shown, and the run fails
        print(f"cse run: cannot write the reports: {e}", file=sys.stderr)
        return 1
    console.print(f"results: {common.shown(opts.report_dir / 'cells')}/<cell>/; reports in "
                  f"{common.shown(opts.report_dir)}/: {_names(opts.report_dir, written)}",
                  highlight=False)
    return 1 if bad else 0


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
