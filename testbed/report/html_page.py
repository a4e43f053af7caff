"""matrix.html: the matrix as one self-contained page (inline CSS, no script,
no external asset), readable from a downloaded CI artifact with no network.

The grid is <table id="matrix-grid">: one row per cell (data-cell, data-status),
with its last runs (a pass/fail strip and the duration trend, html_extras.py),
one square per suite coloured by its status class (status-pass, status-fail,
status-error, status-skip, status-not-run, status-none), each linking to that
suite's log; the cell name links to the cell's directory and the logs column
to each named log, all by paths relative to the report dir, where the page
lives.  A log the result names but the report lacks is marked missing rather
than linked, so a dead link never passes for a log.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from testbed.known_issues import IssueState
from testbed.report import html_extras
from testbed.report.history import Run
from testbed.report.model import (
    EXCUSED,
    NOT_RUN,
    Row,
    failing_counts,
    fmt_duration,
    one_line,
    suite_columns,
    summary_line,
)
from testbed.safepath import UnsafePath, inside

LEGEND = (
    ("PASS", "every test passed"),
    ("FAIL", "the code under test failed"),
    ("ERROR", "the cell could not run to the end (a tool or the testbed)"),
    ("KNOWN", "failed, and a known issue says why (ci/known-issues.yaml)"),
    ("FLAKY", "failed, then passed when retried in the same cell"),
    ("SKIP", "cannot run here; the reason says why"),
    (NOT_RUN, "in the matrix, no result yet"),
    (None, "the cell has no such suite"),
)

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
.summary { font-size: 16px; margin: 4px 0 12px; }
.legend { list-style: none; padding: 0; margin: 0 0 16px; display: flex; flex-wrap: wrap;
  gap: 6px 18px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 18px; height: 18px; border: 1px solid #8c959f; }
table.matrix-grid { border-collapse: collapse; }
.matrix-grid th, .matrix-grid td { border: 1px solid #d0d7de; padding: 6px 10px;
  text-align: left; vertical-align: middle; }
.matrix-grid thead th { background: #f6f8fa; }
.matrix-grid td.suite, .matrix-grid td.status { text-align: center; font-weight: 600;
  min-width: 64px; }
.matrix-grid td.reason { max-width: 420px; }
.matrix-grid th.cell-name, .matrix-grid td.status, .matrix-grid td.suite,
.matrix-grid td.duration { white-space: nowrap; }
.status-pass { background: #2da44e; color: #fff; }
.status-fail { background: #cf222e; color: #fff; }
.status-error { background: #9a3412; color: #fff; }
.status-known { background: #8250df; color: #fff; }
.status-flaky { background: #1b7c83; color: #fff; }
.status-skip { background: #d4a72c; color: #1f2328; }
.status-not-run { background: #afb8c1; color: #1f2328; }
.status-none { background: #ffffff; color: #8c959f; }
td.status-pass a, td.status-fail a, td.status-error a, td.status-known a,
td.status-flaky a { color: #fff; }
.issue-stale, .issue-expired { color: #9a6700; font-weight: 600; }
small.count { display: block; font-weight: 400; font-size: 11px; }
.missing-log { color: #cf222e; text-decoration: line-through; }
.note { color: #57606a; font-size: 12px; }
.badge { padding: 1px 6px; border-radius: 3px; font-size: 12px; font-weight: 600; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; max-height: 320px; }
"""


def status_class(status: str | None) -> str:
    """The CSS class of a status: status-pass ... status-not-run, status-none."""
    return "status-" + (status or "none").lower().replace(" ", "-")


class _Links:
    """Links to files under the report dir, or a "missing" mark for absent ones."""

    def __init__(self, report_dir: Path) -> None:
        self.report_dir = report_dir

    def exists(self, rel: str) -> bool:
        """Only files under the report dir: a result names its own logs."""
        try:
            return inside(self.report_dir, rel).exists()
        except UnsafePath:
            return False

    def link(self, rel: str, text: str) -> str:
        if self.exists(rel):
            return f'<a href="{escape(quote(rel))}">{escape(text)}</a>'
        return f'<span class="missing-log" title="{escape(rel)}: not in the report">' \
               f'{escape(text)} (missing)</span>'


def _suite_square(row: Row, suite: str, links: _Links) -> str:
    status = row.suite_status(suite)
    bad, total = failing_counts(row, suite)
    text = status or "—"
    s = row.result.suites.get(suite) if row.result else None
    body = links.link(s.log, text) if s and s.log else escape(text)
    if total:
        count = f"{bad} of {total} failed" if bad else f"{total} test{'s' if total > 1 else ''}"
        body += f'<small class="count">{count}</small>'
    return f'<td class="suite {status_class(status)}" data-suite="{escape(suite)}">{body}</td>'


def _row(row: Row, suites: list[str], links: _Links, runs: list[Run]) -> str:
    r = row.result
    cid = escape(row.cell)
    celldir = f"cells/{row.cell}/"
    name = f'<a href="{escape(quote(celldir))}">{cid}</a>' if links.exists(celldir) else cid
    if not row.in_matrix:
        name += '<br><span class="note">not in the matrix</span>'
    reason = r.reason if r else (row.matrix_cell.skip_reason or "" if row.matrix_cell else "")
    logs = " ".join(links.link(path, label) for label, path in r.logs.items()) if r else ""
    return "".join([
        f'<tr class="cell-row" id="cell-{cid}" data-cell="{cid}" '
        f'data-status="{escape(row.status)}">',
        f'<th scope="row" class="cell-name">{name}</th>',
        f'<td class="status {status_class(row.status)}" data-note="{escape(row.note)}">'
        f'{escape(row.status)}'
        f'{f"<br><span class=note>{escape(row.note)}</span>" if row.note else ""}</td>',
        f'<td class="culprit">{escape(r.culprit or "") if r else ""}</td>',
        *(_suite_square(row, s, links) for s in suites),
        f'<td class="duration">{fmt_duration(r.duration_s) if r else ""}</td>',
        html_extras.history_cell(runs),
        f'<td class="logs">{logs}</td>',
        f'<td class="reason">{escape(one_line(reason, 400))}</td>',
        "</tr>",
    ])


def _failures(rows: list[Row], links: _Links, statuses: tuple[str, ...] = ("FAIL", "ERROR"),
              section: str = "failures", title: str = "Failures") -> list[str]:
    out: list[str] = []
    for row in rows:
        failures = row.failures(statuses)
        if not failures:
            continue
        culprit = f" (culprit: {row.result.culprit})" if row.result and row.result.culprit else ""
        out.append(f'<div class="cell-failures" id="{section}-{escape(row.cell)}">'
                   f"<h3>{escape(row.cell)} — {escape(row.status)}{escape(culprit)}</h3><ul>")
        for f in failures:
            where = escape(f.where or "cell")
            log = f" — {links.link(f.log, 'log')}" if f.log else ""
            diag = f"<details><summary>diagnostics</summary><pre>{escape(f.diagnostics)}" \
                   f"</pre></details>" if f.diagnostics else ""
            out.append(f'<li><span class="badge {status_class(f.status)}">{escape(f.status)}'
                       f"</span> {where}: {escape(f.reason)}{log}{diag}</li>")
        out.append("</ul></div>")
    if out:
        out.insert(0, f'<section id="{section}"><h2>{escape(title)}</h2>')
        out.append("</section>")
    return out


_ISSUE_STATE = {"active": "active", "stale": "stale: its tests passed; remove the entry?",
                "expired": "expired: masks nothing", "idle": "not seen in this run"}


def _issues(issues: list[IssueState]) -> list[str]:
    """The known issues and what each did (stale and expired ones stand out)."""
    if not issues:
        return []
    out = ['<section id="known-issues"><h2>Known issues</h2>',
           '<table class="matrix-grid"><thead><tr><th>issue</th><th>state</th>'
           "<th>masked</th><th>reason</th></tr></thead><tbody>"]
    for st in issues:
        i = st.issue
        name = f'<a href="{escape(i.link)}">{escape(i.id)}</a>' if i.link else escape(i.id)
        note = " (intermittent)" if i.intermittent else ""
        out.append(f'<tr class="known-issue" data-issue="{escape(i.id)}" '
                   f'data-state="{escape(st.state)}"><th>{name}{note}</th>'
                   f'<td class="issue-{escape(st.state)}">{escape(_ISSUE_STATE[st.state])}</td>'
                   f"<td>{len(st.masked)}</td><td>{escape(i.reason)}</td></tr>")
    out.append("</tbody></table></section>")
    return out


def render_html(rows: list[Row], generated: str, report_dir: Path,
                issues: list[IssueState] | None = None,
                runs: dict[str, list[Run]] | None = None) -> str:
    """The whole page; @report_dir is where it will be written (links start
    there); @runs: each cell's last runs (report/history/)."""
    links = _Links(report_dir)
    suites = suite_columns(rows)
    runs = runs or {}
    head = ["cell", "status", "culprit", *suites, "duration", "last runs", "logs", "reason"]
    legend = "".join(
        f'<li><span class="swatch {status_class(s)}"></span><b>{escape(s or "—")}</b> '
        f"{escape(what)}</li>" for s, what in LEGEND)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>CSE test matrix — {escape(summary_line(rows))}</title>",
        f"<style>{_CSS}{html_extras.CSS}</style></head><body>",
        "<h1>CSE test matrix</h1>",
        f'<p id="summary" class="summary">{escape(summary_line(rows))} '
        f'<span class="note">generated {escape(generated)}</span></p>',
        f'<ul id="legend" class="legend">{legend}</ul>',
        '<table id="matrix-grid" class="matrix-grid">',
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>",
        "<tbody>",
        *(_row(row, suites, links, runs.get(row.cell, [])) for row in rows),
        "</tbody></table>",
        *html_extras.pivots(rows),
        *_failures(rows, links),
        *_failures(rows, links, EXCUSED, "excused", "Excused: known issues and flaky tests"),
        *_issues(issues or []),
        "</body></html>",
        "",
    ])
