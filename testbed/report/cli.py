"""cse report: render the matrix reports from saved results, or merge the
report dirs of many CI runners and render those.

    cse report [--report-dir DIR] [--matrix FILE | --no-matrix] [--update-readme FILE]
        re-render DIR/matrix.json, junit/, matrix.md, matrix.html and
        support.md from DIR/cells/*/result.json (DIR defaults to the
        checkout's report/); --update-readme puts support.md's table between
        FILE's support-table markers
    cse report merge DIR... [-o OUT] [--matrix FILE | --no-matrix]
        copy every cell of each DIR (DIR/cells/<cell>/ with its logs, or the
        cells of DIR/matrix.json) into OUT/cells/, the newest run of a cell
        winning, then render OUT as above (OUT defaults to report/)

Cells of the matrix (default ci/matrix.yaml) without a result are shown as
NOT RUN; --no-matrix shows only the results.  The paths written are printed.

Exit status: 0 when the reports were written from good input; 2 on bad input
(a result.json or matrix.json that cannot be read, a DIR holding no results,
an invalid matrix, bad usage), with a message naming the file; the reports
are still written from everything else when there is anything.  FAIL or
ERROR cells do not change the exit status: a report of a failing run is
still a good report (`cse run` is what fails a CI job).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from testbed.builds import ROOT
from testbed.matrix import Cell, MatrixError, load_matrix
from testbed.report.load import ReportError
from testbed.report.merge import merge
from testbed.report.render import write_all
from testbed.report.support import ReadmeError, update_readme

DEFAULT_REPORT_DIR = ROOT / "report"
DEFAULT_MATRIX = ROOT / "ci" / "matrix.yaml"


def _matrix_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--matrix", type=Path, default=None,
                       help=f"show the cells of this matrix that have no result as NOT RUN "
                            f"(default {DEFAULT_MATRIX})")
    group.add_argument("--no-matrix", action="store_true",
                       help="show only the cells that have results")


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    fmt = argparse.RawDescriptionHelpFormatter
    render = argparse.ArgumentParser(prog="cse report", description=__doc__,
                                     formatter_class=fmt)
    render.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR,
                        help=f"the report dir (default {DEFAULT_REPORT_DIR})")
    render.add_argument("--update-readme", type=Path, default=None, metavar="FILE",
                        help="put the support table between FILE's support-table markers")
    _matrix_options(render)
    join = argparse.ArgumentParser(prog="cse report merge", description=__doc__,
                                   formatter_class=fmt)
    join.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                      help="report dirs, e.g. CI artifacts as downloaded")
    join.add_argument("-o", "--output", type=Path, default=DEFAULT_REPORT_DIR,
                      help=f"the merged report dir (default {DEFAULT_REPORT_DIR})")
    _matrix_options(join)
    return render, join


def _matrix(args: argparse.Namespace) -> list[Cell] | None:
    """The matrix's cells, None with --no-matrix; MatrixError if invalid."""
    if args.no_matrix:
        return None
    if args.matrix is None and not DEFAULT_MATRIX.is_file():
        print(f"cse report: note: no {DEFAULT_MATRIX}; showing only cells with results",
              file=sys.stderr)
        return None
    return load_matrix(args.matrix or DEFAULT_MATRIX)


def _shown(path: Path) -> str:
    """@path relative to the current directory when it is below it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _print_written(written: dict[str, Path]) -> None:
    for path in written.values():
        print(f"wrote {_shown(path)}")


def main(argv: list[str]) -> int:
    """Run `cse report ARGV...`; the exit status (module docstring)."""
    render, join = _parsers()
    merging = argv[:1] == ["merge"]
    try:
        args = join.parse_args(argv[1:]) if merging else render.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    prog = "cse report merge" if merging else "cse report"
    try:
        cells = _matrix(args)
        if merging:
            written = merge(args.dirs, args.output, cells,
                            warn=lambda msg: print(f"{prog}: warning: {msg}", file=sys.stderr))
        else:
            written = write_all(args.report_dir, cells)
    except MatrixError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except ReportError as e:
        _print_written(e.written)
        for line in str(e).splitlines():
            print(f"{prog}: error: {line}", file=sys.stderr)
        if e.written:
            print(f"{prog}: the reports above were still written from the readable results",
                  file=sys.stderr)
        return 2
    _print_written(written)
    readme = None if merging else args.update_readme
    if readme is not None:
        try:
            changed = update_readme(readme, written["support.md"].read_text())
        except (OSError, ReadmeError) as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        print(f"{'updated' if changed else 'unchanged'}: {_shown(readme)}")
    return 0
