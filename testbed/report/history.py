"""The last runs of each cell: report/history/<cell>.json, for the pass/fail
strip and the duration trend of matrix.html.

Every rendering of a report dir records each cell's current result (once:
a run is known by when it started); a merge also takes in the history of
each source and of --history DIR (in CI: the last report of the default
branch), so the record grows run after run.  Only the last KEEP runs of a
cell are kept.  A history file is a JSON list, oldest first, of

    {"started": "<iso time>", "status": "PASS", "duration_s": 12.3,
     "suites": {"uu": "PASS", ...}}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbed.report.files import atomic_write
from testbed.results import STATUSES, CellResult
from testbed.safepath import UnsafePath, check_cell_id, inside

HISTORY_DIR = "history"
KEEP = 20


@dataclass(frozen=True)
class Run:
    """One run of one cell, as its history keeps it."""

    started: str
    status: str
    duration_s: float = 0.0
    suites: dict[str, str] = field(default_factory=dict)


def of_result(r: CellResult) -> Run:
    return Run(r.started, r.status, r.duration_s, {n: s.status for n, s in r.suites.items()})


def _parse(data: object, where: str) -> list[Run]:
    """The runs of one history file; ValueError naming @where if malformed."""
    if not isinstance(data, list):
        raise ValueError(f"{where}: a history must be a JSON list of runs")
    runs = []
    for item in data:
        if not (isinstance(item, dict) and isinstance(item.get("started"), str)
                and item.get("status") in STATUSES
                and isinstance(item.get("duration_s", 0), int | float)
                and isinstance(item.get("suites", {}), dict)):
            raise ValueError(f"{where}: not a run: {item!r:.200}")
        runs.append(Run(item["started"], item["status"], float(item.get("duration_s", 0)),
                        {str(k): str(v) for k, v in item.get("suites", {}).items()}))
    return runs


def read(folder: Path) -> tuple[dict[str, list[Run]], list[str]]:
    """Cell id -> its runs, from the <cell>.json files of @folder, and what
    could not be read (each file named)."""
    runs: dict[str, list[Run]] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return runs, problems
    for path in sorted(folder.glob("*.json")):
        try:
            cid = check_cell_id(path.stem)
            runs[cid] = _parse(json.loads(path.read_text()), str(path))
        except (OSError, ValueError, UnsafePath) as e:
            problems.append(f"{path}: unreadable history: {e}")
    return runs, problems


def _merged(*lists: list[Run], keep: int) -> list[Run]:
    """The runs of @lists, each start once (the last copy wins), oldest first."""
    by_start: dict[str, Run] = {}
    for runs in lists:
        for run in runs:
            if run.started:
                by_start[run.started] = run
    return [by_start[k] for k in sorted(by_start)][-keep:]


def record(report_dir: Path, results: dict[str, CellResult], sources: list[Path] = (),
           keep: int = KEEP) -> tuple[dict[str, list[Run]], list[str]]:
    """Add each of @results to report_dir/history (with the history of each
    folder in @sources), keep the last @keep runs per cell, and return every
    cell's runs and the problems met (unreadable files)."""
    folder = report_dir / HISTORY_DIR
    known, problems = read(folder)
    for source in sources:
        more, bad = read(source)
        problems += bad
        for cid, runs in more.items():
            known[cid] = _merged(known.get(cid, []), runs, keep=keep)
    for cid, r in results.items():
        known[cid] = _merged(known.get(cid, []), [of_result(r)], keep=keep)
    for cid, runs in known.items():
        try:
            path = inside(folder, f"{check_cell_id(cid)}.json")
        except UnsafePath as e:
            problems.append(f"history of {cid!r}: {e}")
            continue
        atomic_write(path, json.dumps([asdict(r) for r in runs], indent=1) + "\n")
    return known, problems
