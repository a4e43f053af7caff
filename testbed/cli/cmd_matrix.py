"""`cse matrix (--github | --gitlab) [CELL...]`: the cells as a CI system's
jobs (testbed/ci_jobs.py): a GitHub Actions strategy.matrix as one line of
JSON, or the YAML of a GitLab child pipeline; beyond the system's cap
(--cap; 256 and 200) the cells go in balanced chunks, one job each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from testbed import ci_jobs, shards
from testbed.cli import common


def add_parser(sub: Any, matrix: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's
    p = sub.add_parser("matrix", parents=[matrix, common.cells_options("all")],
                       help="the cells as a CI system's jobs", description=__doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--github", action="store_true",
                       help="a GitHub Actions strategy.matrix, as one line of JSON")
    which.add_argument("--gitlab", action="store_true",
                       help="a GitLab CI child pipeline (YAML) with parallel:matrix")
    p.add_argument("--cap", type=common.positive_int, default=None, metavar="N",
                   help=f"at most N jobs (default: GitHub's {ci_jobs.GITHUB_CAP}, GitLab's "
                        f"{ci_jobs.GITLAB_CAP})")
    p.add_argument("--durations", type=Path, default=None, metavar="FILE",
                   help="a matrix.json (or report dir) whose durations balance the chunks")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cells = common.selected_cells(args, default_tags=None)
    known = shards.durations(args.durations) if args.durations else {}
    if args.github:
        jobs = ci_jobs.github(cells, known, args.cap or ci_jobs.GITHUB_CAP)
        print(json.dumps(jobs, separators=(",", ":")))
    else:
        print(ci_jobs.gitlab_yaml(cells, known, args.cap or ci_jobs.GITLAB_CAP), end="")
    return 0
