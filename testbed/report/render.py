"""write_all: every report rendered from the saved results of a report dir."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from testbed.matrix import Cell
from testbed.report.files import atomic_write
from testbed.report.html_page import render_html
from testbed.report.junit import write_junit
from testbed.report.load import RESULT_NAME, Loaded, ReportError, load_results, result_files
from testbed.report.markdown import render_markdown
from testbed.report.model import Row, build_rows
from testbed.report.support import render_support
from testbed.results import FORMAT_VERSION


def matrix_json(rows: list[Row], generated: str, problems: list[str]) -> dict[str, object]:
    """matrix.json's content (format: testbed/results.py), plus two lists that
    keep the rest honest: matrix cells with no result ("not_run") and the
    result files that could not be read ("problems")."""
    return {
        "version": FORMAT_VERSION,
        "generated": generated,
        "cells": {row.cell: row.result.to_json() for row in rows if row.result},
        "not_run": [row.cell for row in rows if row.result is None],
        "problems": problems,
    }


def render(report_dir: Path, loaded: Loaded, matrix_cells: list[Cell] | None) -> dict[str, Path]:
    """Write every report of @loaded into @report_dir; report name -> path."""
    rows = build_rows(loaded.results, matrix_cells)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    problems = list(loaded.problems.values())
    written: dict[str, Path] = {}
    written["matrix.json"] = atomic_write(
        report_dir / "matrix.json",
        json.dumps(matrix_json(rows, generated, problems), indent=2) + "\n")
    written |= write_junit(rows, report_dir / "junit")
    written["matrix.md"] = atomic_write(report_dir / "matrix.md",
                                        render_markdown(rows, generated))
    written["matrix.html"] = atomic_write(report_dir / "matrix.html",
                                          render_html(rows, generated, report_dir))
    written["support.md"] = atomic_write(report_dir / "support.md", render_support(rows))
    return written


def write_all(report_dir: Path, matrix_cells: list[Cell] | None = None) -> dict[str, Path]:
    """Render matrix.json, junit/<cell>.xml, matrix.md and matrix.html from
    every report_dir/cells/*/result.json; return report name -> path written.

    With @matrix_cells, matrix cells with no result are shown as NOT RUN.
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
    written = render(report_dir, loaded, matrix_cells)
    if loaded.problems:
        raise ReportError("\n".join(loaded.problems.values()), written)
    return written
