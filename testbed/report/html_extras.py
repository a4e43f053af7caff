"""matrix.html's views beyond the grid: each cell's last runs (a pass/fail
strip and its duration trend, from report/history/) and, for a matrix of
PIVOT_MIN cells or more, pivot tables (kernel x arch, libc x compiler) that
show at a glance where failures cluster.  Plain HTML and inline SVG: the
page stays self-contained, with no script."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from testbed.report.history import Run
from testbed.report.model import Row, fmt_duration

#: the pivot tables appear from this many cells on (below, the grid says it)
PIVOT_MIN = 20
#: (title, row axis, column axis) of each pivot table
PIVOTS = (("kernel × arch", "kernel", "arch"), ("libc × compiler", "libc", "compiler"))
_SPARK_W, _SPARK_H = 80, 18

CSS = """
.history { white-space: nowrap; }
.strip { display: inline-flex; gap: 1px; vertical-align: middle; }
.strip .run { display: inline-block; width: 6px; height: 14px; border: 0; }
svg.trend { vertical-align: middle; margin-left: 6px; }
svg.trend polyline { fill: none; stroke: #57606a; stroke-width: 1.5; }
table.pivot { border-collapse: collapse; margin: 0 24px 16px 0; display: inline-table; }
.pivot th, .pivot td { border: 1px solid #d0d7de; padding: 4px 6px; text-align: center; }
.pivot thead th { background: #f6f8fa; }
.pivot .dot { display: inline-block; width: 14px; height: 14px; margin: 1px;
  border-radius: 3px; }
"""


def _status_class(status: str) -> str:
    return "status-" + status.lower().replace(" ", "-")


def strip(runs: list[Run]) -> str:
    """The last runs, oldest first, one small coloured square each."""
    squares = "".join(
        f'<span class="run {_status_class(r.status)}" data-status="{escape(r.status)}" '
        f'title="{escape(r.started)}: {escape(r.status)}, {fmt_duration(r.duration_s)}">'
        f"</span>" for r in runs)
    return f'<span class="strip">{squares}</span>'


def trend(runs: list[Run]) -> str:
    """The duration of the last runs as a sparkline (needs two runs)."""
    timed = [r for r in runs if r.duration_s > 0]
    if len(timed) < 2:
        return ""
    top = max(r.duration_s for r in timed)
    low = min(r.duration_s for r in timed)
    span = (top - low) or 1.0
    step = (_SPARK_W - 2) / (len(timed) - 1)
    height = _SPARK_H - 2
    ys = [_SPARK_H - 1 - (r.duration_s - low) / span * height for r in timed]
    points = " ".join(f"{1 + i * step:.1f},{y:.1f}" for i, y in enumerate(ys))
    title = (f"duration: {fmt_duration(timed[0].duration_s)} → "
             f"{fmt_duration(timed[-1].duration_s)} (min {fmt_duration(low)}, "
             f"max {fmt_duration(top)})")
    return (f'<svg class="trend" width="{_SPARK_W}" height="{_SPARK_H}" '
            f'viewBox="0 0 {_SPARK_W} {_SPARK_H}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title><polyline points=\"{points}\"/></svg>")


def history_cell(runs: list[Run]) -> str:
    """The grid's history column for one cell."""
    if not runs:
        return '<td class="history"></td>'
    return f'<td class="history" data-runs="{len(runs)}">{strip(runs)}{trend(runs)}</td>'


def _axis(row: Row, axis: str) -> str:
    """A row's value on @axis: its result's, else its matrix cell's."""
    if row.result is not None and row.result.info.get(axis):
        return row.result.info[axis]
    if row.matrix_cell is not None:
        return str(getattr(row.matrix_cell, axis, "") or "")
    return ""


def pivots(rows: list[Row]) -> list[str]:
    """The pivot tables, for a matrix of PIVOT_MIN cells or more."""
    if len(rows) < PIVOT_MIN:
        return []
    out = ['<section id="pivots"><h2>Where it fails</h2>']
    for title, down, across in PIVOTS:
        downs = sorted({_axis(r, down) or "?" for r in rows})
        acrosses = sorted({_axis(r, across) or "?" for r in rows})
        out.append(f'<table class="pivot" data-pivot="{escape(down)}-{escape(across)}">'
                   f"<caption>{escape(title)}</caption><thead><tr><th></th>"
                   + "".join(f"<th>{escape(a)}</th>" for a in acrosses) + "</tr></thead><tbody>")
        for d in downs:
            tds = []
            for a in acrosses:
                here = [r for r in rows if (_axis(r, down) or "?") == d
                        and (_axis(r, across) or "?") == a]
                dots = "".join(
                    f'<a class="dot {_status_class(r.status)}" href="#cell-{escape(quote(r.cell))}"'
                    f' title="{escape(r.cell)}: {escape(r.status)}"></a>' for r in here)
                tds.append(f'<td data-cells="{len(here)}">{dots}</td>')
            out.append(f"<tr><th>{escape(d)}</th>{''.join(tds)}</tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return out
