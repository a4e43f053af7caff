"""write_all: every report rendered from the saved results of a report dir."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from testbed import known_issues
from testbed.known_issues import Applied, KnownIssue
from testbed.matrix import Cell
from testbed.report import history
from testbed.report.files import atomic_write
from testbed.report.html_page import render_html
from testbed.report.junit import write_junit
from testbed.report.load import RESULT_NAME, Loaded, ReportError, load_results, result_files
from testbed.report.markdown import render_markdown
from testbed.report.model import Row, build_rows
from testbed.report.support import render_support
from testbed.results import FORMAT_VERSION


def matrix_json(rows: list[Row], generated: str, problems: list[str],
                applied: Applied | None = None) -> dict[str, object]:
    """matrix.json's content (format: testbed/results.py), with the known
    issues applied, plus the lists that keep the rest honest: matrix cells
    with no result ("not_run"), the result files that could not be read
    ("problems") and what each known issue did ("known_issues")."""
    return {
        "version": FORMAT_VERSION,
        "generated": generated,
        "cells": {row.cell: row.result.to_json() for row in rows if row.result},
        "not_run": [row.cell for row in rows if row.result is None],
        "problems": problems,
        "known_issues": known_issues.summary(applied) if applied else [],
    }


def render(report_dir: Path, loaded: Loaded, matrix_cells: list[Cell] | None,
           issues: list[KnownIssue] | None = None,
           history_from: list[Path] | None = None) -> tuple[dict[str, Path], list[str]]:
    """Write every report of @loaded into @report_dir, with @issues applied
    (None: those of ci/known-issues.yaml), each cell's run added to its
    history (with the histories in @history_from).  Returns report name ->
    path, and the history files that could not be read (also listed in
    matrix.json's problems)."""
    applied = known_issues.apply(loaded.results,
                                 known_issues.load_default() if issues is None else issues)
    runs, history_problems = history.record(report_dir, applied.results, history_from or [])
    rows = build_rows(applied.results, matrix_cells)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    problems = list(loaded.problems.values()) + history_problems
    written: dict[str, Path] = {}
    written["matrix.json"] = atomic_write(
        report_dir / "matrix.json",
        json.dumps(matrix_json(rows, generated, problems, applied), indent=2) + "\n")
    written |= write_junit(rows, report_dir / "junit")
    written["matrix.md"] = atomic_write(report_dir / "matrix.md",
                                        render_markdown(rows, generated, applied.issues))
    written["matrix.html"] = atomic_write(report_dir / "matrix.html",
                                          render_html(rows, generated, report_dir,
                                                      applied.issues, runs))
    written["support.md"] = atomic_write(report_dir / "support.md", render_support(rows))
    return written, history_problems


def write_all(report_dir: Path, matrix_cells: list[Cell] | None = None,
              issues: list[KnownIssue] | None = None) -> dict[str, Path]:
    """Render matrix.json, junit/<cell>.xml, matrix.md and matrix.html from
    every report_dir/cells/*/result.json; return report name -> path written.

    With @matrix_cells, matrix cells with no result are shown as NOT RUN.
    The known @issues (None: ci/known-issues.yaml's) turn the failures
    they match KNOWN in every report; the saved results stay as they are.
    An unusable result.json is rendered as an ERROR for its cell and, once
    every report is written, raised as a ReportError naming the file (with
    .written set), so a caller cannot mistake the report for a clean one.
    """
    if not report_dir.is_dir():
        raise ReportError(f"{report_dir}: no such report directory")
    if not result_files(report_dir):
        raise ReportError(f"{report_dir}: no results to report (no cells/<cell>/{RESULT_NAME}): "
                          f"`cse run` writes them")
    loaded = load_results(report_dir)
    written, history_problems = render(report_dir, loaded, matrix_cells, issues)
    problems = list(loaded.problems.values()) + history_problems
    if problems:
        raise ReportError("\n".join(problems), written)
    return written
