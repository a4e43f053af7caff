"""`cse compare BASE NEW`: what changed between two runs of the matrix, the
CI regression gate (kci-dev's `results compare`, for cells).

A run is a report dir (its matrix.json, else its cells/*/result.json) or a
matrix.json file.  Both are compared thing by thing: each test of each
suite of each cell ("cell suite.test"), and each suite that failed as a
whole ("cell suite": it crashed or never ran, no test says why).

  new failure    FAIL or ERROR now; passed, was skipped or did not exist
                 before.  An excused status (KNOWN, FLAKY) never is one; a
                 failure of a cell allowed to fail is listed, marked so,
                 and does not fail the gate
  fixed          failed before (FAIL, ERROR or KNOWN), passes now
  still failing  failed before and fails now (KNOWN included)
  flaky          FLAKY now: failed, then passed on a retry
  new / removed  cells, and tests of a suite that ran in both runs
  slower         a suite that took more than --slower percent (and
                 --min-seconds) longer

A test of a suite that failed as a whole in one run did not run there: it
is neither new nor removed, and the suite's own failure stands for it.
Durations come from the suites' own timings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from testbed import known_issues
from testbed.excuses import UNEXCUSED, allowed_to_fail
from testbed.known_issues import KnownIssue
from testbed.report.load import (
    ReportError,
    load_results,
    parse_result,
    read_matrix_cells,
    result_files,
)
from testbed.results import FAILED, CellResult

#: the status of a test whose suite failed as a whole in that run
DID_NOT_RUN = "DID NOT RUN"


@dataclass
class Run:
    """The results of one run, and where they came from."""

    label: str
    results: dict[str, CellResult]
    generated: str = ""


@dataclass(frozen=True)
class Change:
    """One thing that changed: a test or a suite of a cell."""

    cell: str
    path: str           # "suite.test", or "suite" for a suite as a whole
    before: str | None  # its status in BASE; None: it did not exist
    after: str | None   # its status in NEW
    reason: str = ""    # why it fails now (or failed, for a fix)
    excused: str = ""   # "allowed to fail" for a canary cell's failure

    @property
    def where(self) -> str:
        return f"{self.cell} {self.path}"


@dataclass(frozen=True)
class Slower:
    cell: str
    suite: str
    before_s: float
    after_s: float


@dataclass
class Comparison:
    base: Run
    new: Run
    new_failures: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    still_failing: list[Change] = field(default_factory=list)
    flaky: list[Change] = field(default_factory=list)
    newly_known: list[Change] = field(default_factory=list)
    new_cells: list[str] = field(default_factory=list)
    removed_cells: list[str] = field(default_factory=list)
    new_tests: list[Change] = field(default_factory=list)
    removed_tests: list[Change] = field(default_factory=list)
    slower: list[Slower] = field(default_factory=list)

    def gate_fails(self, strict: bool = False) -> bool:
        """Exit status 1: a new unexcused failure (with @strict, also a new
        KNOWN or FLAKY)."""
        if any(not c.excused for c in self.new_failures):
            return True
        return strict and bool(self.flaky or self.newly_known)


# --- reading a run ------------------------------------------------------------

def load_run(path: Path, issues: list[KnownIssue] | None = None) -> Run:
    """The run at @path: a matrix.json file, or a report dir with one (else
    with cells/*/result.json, to which @issues are applied: None, those of
    ci/known-issues.yaml).  ReportError for anything unreadable."""
    file = path / "matrix.json" if path.is_dir() else path
    if file.is_file():
        try:
            generated = str(json.loads(file.read_text()).get("generated", ""))
        except (OSError, ValueError, AttributeError):
            generated = ""
        results = {cid: parse_result(raw, f"{file}: cell {cid!r}", cid)
                   for cid, raw in read_matrix_cells(file).items()}
        return Run(str(path), results, generated)
    if path.is_dir() and result_files(path):
        loaded = load_results(path)
        if loaded.problems:
            raise ReportError("\n".join(loaded.problems.values()))
        applied = known_issues.apply(loaded.results, known_issues.load_default()
                                     if issues is None else issues)
        return Run(str(path), applied.results)
    raise ReportError(f"{path}: not a run: expected a matrix.json, or a report dir holding "
                      f"matrix.json or cells/<cell>/result.json")


# --- comparing ------------------------------------------------------------------

def _whole_failures(r: CellResult) -> set[str]:
    """The suites of @r that failed as a whole (no test says why)."""
    return {path for path, _ in known_issues.units(r) if "." not in path}


def _statuses(r: CellResult) -> dict[str, tuple[str, str]]:
    """path -> (status, reason) of everything in @r that passes or fails."""
    out: dict[str, tuple[str, str]] = {}
    for name, s in r.suites.items():
        for t in s.tests:  # a KTAP case says why in its diagnostics
            why = t.reason or next(iter(t.diagnostics.splitlines()), "")
            out[f"{name}.{t.name}"] = (t.status, why)
    for name in _whole_failures(r):
        out[name] = (r.suites[name].status, r.suites[name].error)
    return out


def _status_of(r: CellResult, path: str, own: dict[str, tuple[str, str]]) -> str | None:
    """The status of @path in @r: its own, else what its absence means: a
    test of a suite that failed as a whole did not run; a suite that did not
    fail as a whole has its own status; else it does not exist (None)."""
    if path in own:
        return own[path][0]
    suite = path.split(".", 1)[0]
    if suite not in r.suites:
        return None
    if "." in path:
        return DID_NOT_RUN if suite in _whole_failures(r) else None
    return r.suites[suite].status


def _failed(status: str | None) -> bool:
    return status in FAILED or status == DID_NOT_RUN


def _cell(base: CellResult, new: CellResult, out: Comparison) -> None:
    b_own, n_own = _statuses(base), _statuses(new)
    allowed = "allowed to fail" if allowed_to_fail(new) else ""
    for path in sorted(set(b_own) | set(n_own)):
        before, after = _status_of(base, path, b_own), _status_of(new, path, n_own)
        reason = n_own.get(path, b_own.get(path, ("", "")))[1]
        change = Change(new.cell, path, before, after, reason)
        if after in UNEXCUSED:
            if not _failed(before):
                out.new_failures.append(Change(new.cell, path, before, after, reason, allowed))
            else:
                out.still_failing.append(change)
        elif after == "KNOWN":
            (out.still_failing if _failed(before) else out.newly_known).append(change)
        elif after == "FLAKY":
            out.flaky.append(change)
        elif after == "PASS" and _failed(before):
            out.fixed.append(Change(new.cell, path, before, after, b_own.get(path, ("", ""))[1]))
        elif before is None and after is not None and after != DID_NOT_RUN:
            out.new_tests.append(Change(new.cell, path, before, after))
        elif after is None and before is not None and before != DID_NOT_RUN:
            out.removed_tests.append(Change(new.cell, path, before, after))


def _new_cell(new: CellResult, out: Comparison) -> None:
    """Everything of a cell BASE did not have: its failures are new ones."""
    allowed = "allowed to fail" if allowed_to_fail(new) else ""
    for path, (status, reason) in sorted(_statuses(new).items()):
        if status in UNEXCUSED:
            out.new_failures.append(Change(new.cell, path, None, status, reason, allowed))
        elif status == "KNOWN":
            out.newly_known.append(Change(new.cell, path, None, status, reason))
        elif status == "FLAKY":
            out.flaky.append(Change(new.cell, path, None, status, reason))
    if new.status in UNEXCUSED and not new.suites:  # a cell with nothing below it
        out.new_failures.append(Change(new.cell, "(cell)", None, new.status, new.reason,
                                       allowed))


def _durations(base: CellResult, new: CellResult, slower_pct: float, min_s: float,
               out: Comparison) -> None:
    for name, s in new.suites.items():
        b = base.suites.get(name)
        if b is None or b.duration_s <= 0 or s.duration_s <= 0:
            continue
        grew = s.duration_s - b.duration_s
        if grew >= min_s and s.duration_s > b.duration_s * (1 + slower_pct / 100):
            out.slower.append(Slower(new.cell, name, b.duration_s, s.duration_s))


def compare(base: Run, new: Run, *, slower_pct: float = 50.0,
            min_seconds: float = 10.0) -> Comparison:
    """What changed from @base to @new (see the module doc).  Cells skipped
    in a run are compared like the others: their suites say SKIP."""
    out = Comparison(base, new)
    out.new_cells = sorted(set(new.results) - set(base.results))
    out.removed_cells = sorted(set(base.results) - set(new.results))
    for cid, n in sorted(new.results.items()):
        if cid in base.results:
            _cell(base.results[cid], n, out)
            _durations(base.results[cid], n, slower_pct, min_seconds, out)
        else:
            _new_cell(n, out)
    return out
