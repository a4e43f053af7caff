"""What every report shows, computed once: one row per cell, in a fixed order.

The renderers (JUnit, markdown, HTML) only format these rows, so they cannot
disagree about which cells exist, what counts as "not run" or what failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from testbed.matrix import SUITES, Cell
from testbed.results import STATUSES, CellResult, SuiteResult, TestResult, notes

#: shown for a matrix cell (or one of its suites) with no result yet
NOT_RUN = "NOT RUN"
#: every status a grid square can show, worst first
SHOWN_STATUSES: tuple[str, ...] = (*STATUSES, NOT_RUN)


@dataclass(frozen=True)
class Failure:
    """One failing thing in a cell: a test, a suite that broke, or the cell."""

    where: str          # "uu/echo", "uu" or "" (the cell itself)
    status: str
    reason: str
    diagnostics: str = ""
    log: str = ""       # relative to the report dir


@dataclass(frozen=True)
class Row:
    """One cell: its result (None = not run yet) and its matrix entry (None =
    a result for a cell the matrix does not list)."""

    cell: str
    result: CellResult | None
    matrix_cell: Cell | None
    in_matrix: bool = True

    @property
    def status(self) -> str:
        return self.result.status if self.result else NOT_RUN

    @property
    def note(self) -> str:
        """"build only", "allowed to fail" (results.notes), or ""."""
        if self.result is not None:
            return ", ".join(notes(self.result.info))
        return "allowed to fail" if self.matrix_cell and self.matrix_cell.allow_failure else ""

    @property
    def shown_status(self) -> str:
        """The status with its note: "PASS (build only)"."""
        return f"{self.status} ({self.note})" if self.note else self.status

    def suite_status(self, suite: str) -> str | None:
        """The suite's status here; None when the cell does not have the suite.

        A suite the matrix lists but the result lacks did not run (or was
        skipped with its cell).
        """
        if self.result and suite in self.result.suites:
            return self.result.suites[suite].status
        if self.matrix_cell and suite in self.matrix_cell.suites:
            return "SKIP" if self.status == "SKIP" else NOT_RUN
        return None

    def failures(self, statuses: tuple[str, ...] = ("FAIL", "ERROR")) -> list[Failure]:
        """The tests, suites or the cell itself whose status is one of
        @statuses (by default: FAILed or ERRORed; EXCUSED: KNOWN or FLAKY),
        each once: a suite or cell is listed only when no test below says
        why."""
        r = self.result
        if r is None:
            return []
        out: list[Failure] = []
        for name, s in r.suites.items():
            tests = [Failure(f"{name}/{t.name}", t.status, _why(t.status, t.reason, t),
                             t.diagnostics, s.log)
                     for t in s.tests if t.status in statuses]
            if s.status in statuses and not any(t.status == s.status for t in tests):
                out.append(Failure(name, s.status,
                                   _why(s.status, s.error or f"suite {s.status}", s), "", s.log))
            out.extend(tests)
        if r.status in statuses and not any(f.status == r.status for f in out):
            out.insert(0, Failure("", r.status, r.reason or f"cell {r.status}"))
        return out


#: the statuses of failures that were excused (testbed/excuses.py)
EXCUSED = ("KNOWN", "FLAKY")


def _why(status: str, reason: str, what: TestResult | SuiteResult) -> str:
    """@reason, with the excuse in front: the known issue, or the attempts."""
    if status == "KNOWN" and what.known_issue:
        return f"known issue {what.known_issue}: {reason}"
    if status == "FLAKY":
        return f"passed on attempt {what.attempts}" + (f" (before: {reason})" if reason else "")
    return reason


def build_rows(results: dict[str, CellResult], matrix_cells: list[Cell] | None) -> list[Row]:
    """Rows in matrix order, then results of cells outside the matrix by id."""
    rows: list[Row] = []
    known: set[str] = set()
    for c in matrix_cells or []:
        rows.append(Row(c.id, results.get(c.id), c))
        known.add(c.id)
    rows += [Row(cid, results[cid], None, in_matrix=matrix_cells is None)
             for cid in sorted(results) if cid not in known]
    return rows


def suite_columns(rows: list[Row]) -> list[str]:
    """The suites of the matrix (build, uu, uk, ku, kk) that any row has,
    then any other suite name a result has (none is hidden)."""
    had = {name for r in rows if r.result for name in r.result.suites} | \
        {name for r in rows if r.matrix_cell for name in r.matrix_cell.suites}
    return [s for s in SUITES if s in had] + sorted(had - set(SUITES))


def counts(rows: list[Row]) -> dict[str, int]:
    """Cells per status, worst first, statuses with no cell left out."""
    n = Counter(r.status for r in rows)
    return {s: n[s] for s in SHOWN_STATUSES if n[s]}


def summary_line(rows: list[Row]) -> str:
    """"7 cells: 1 FAIL, 3 PASS, 3 NOT RUN"."""
    parts = ", ".join(f"{n} {s}" for s, n in counts(rows).items())
    return f"{len(rows)} cell{'s' if len(rows) != 1 else ''}" + (f": {parts}" if parts else "")


def failing_counts(row: Row, suite: str) -> tuple[int, int]:
    """(failing or erroring tests, all tests) of one suite of a row."""
    if not row.result or suite not in row.result.suites:
        return 0, 0
    tests = row.result.suites[suite].tests
    return sum(t.status in ("FAIL", "ERROR") for t in tests), len(tests)


def fmt_duration(seconds: float) -> str:
    """12.3s, 4m05s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def one_line(text: str, limit: int = 200) -> str:
    """@text on one line, cut at @limit characters (table cells)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
