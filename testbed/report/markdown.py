"""matrix.md: the matrix as a GitHub-flavoured markdown table, written for
$GITHUB_STEP_SUMMARY (the CI run's summary page), then each cell's failures.

Table text is kept on one line and escaped: a "|" in a reason would otherwise
split the row, and "<" would be read as HTML by GitHub.
"""

from __future__ import annotations

from testbed.known_issues import IssueState
from testbed.report.model import (
    EXCUSED,
    NOT_RUN,
    Row,
    fmt_duration,
    one_line,
    suite_columns,
    summary_line,
)

_ICON = {"PASS": "✅", "FAIL": "❌", "ERROR": "💥", "KNOWN": "🟣", "FLAKY": "🔁", "SKIP": "⏭️",
         NOT_RUN: "⬜"}
#: how a known issue's state reads in the summary
_STATE = {"active": "active", "stale": "⚠️ stale: its tests passed, remove it?",
          "expired": "⌛ expired: masks nothing", "idle": "not seen in this run"}
#: failures listed per cell before "... and N more" (the summary page has a size limit)
MAX_FAILURES = 30


def _esc(text: str, limit: int = 200) -> str:
    text = one_line(text, limit)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") \
        .replace(">", "&gt;")


def _status(status: str | None, note: str = "") -> str:
    if not status:
        return "—"
    return f"{_ICON[status]} {status}" + (f" ({note})" if note else "")


def _listing(title: str, rows: list[Row], statuses: tuple[str, ...]) -> list[str]:
    """A section listing each row's failures of @statuses."""
    failing = [(row, row.failures(statuses)) for row in rows]
    failing = [(row, f) for row, f in failing if f]
    out = ["", f"### {title}"] if failing else []
    for row, failures in failing:
        culprit = f", culprit {row.result.culprit}" if row.result and row.result.culprit else ""
        out += ["", f"**{_esc(row.cell)}** — {row.status}{culprit}", ""]
        for f in failures[:MAX_FAILURES]:
            where = _esc(f.where) if f.where else "cell"
            out.append(f"- {where} {f.status}: {_esc(f.reason, 300)}")
        if len(failures) > MAX_FAILURES:
            out.append(f"- … and {len(failures) - MAX_FAILURES} more "
                       f"(see junit/{row.cell}.xml)")
    return out


def _issues(issues: list[IssueState]) -> list[str]:
    if not issues:
        return []
    out = ["", "### Known issues (ci/known-issues.yaml)", "",
           "| issue | state | masked | reason |", "|---|---|---|---|"]
    for st in issues:
        i = st.issue
        name = f"[{_esc(i.id)}]({i.link})" if i.link else f"`{_esc(i.id)}`"
        extra = " (intermittent)" if i.intermittent else ""
        out.append(f"| {name}{extra} | {_STATE[st.state]} | {len(st.masked)} | "
                   f"{_esc(i.reason)} |")
    return out


def render_markdown(rows: list[Row], generated: str,
                    issues: list[IssueState] | None = None) -> str:
    """The whole matrix.md text."""
    suites = suite_columns(rows)
    head = ["cell", "status", "culprit", *suites, "duration", "reason"]
    out = ["## CSE test matrix", "",
           f"{summary_line(rows)} (generated {generated})", "",
           "| " + " | ".join(head) + " |",
           "|" + "---|" * len(head)]
    for row in rows:
        r = row.result
        note = "" if row.in_matrix else " (not in the matrix)"
        reason = r.reason if r else (row.matrix_cell.skip_reason or "" if row.matrix_cell else "")
        cells = [f"`{_esc(row.cell)}`{note}", _status(row.status, row.note),
                 _esc(r.culprit or "") if r else "",
                 *(_status(row.suite_status(s)) for s in suites),
                 fmt_duration(r.duration_s) if r else "", _esc(reason)]
        out.append("| " + " | ".join(cells) + " |")

    out += _listing("Failures", rows, ("FAIL", "ERROR"))
    out += _listing("Excused: known issues and flaky tests", rows, EXCUSED)
    out += _issues(issues or [])
    return "\n".join(out) + "\n"
