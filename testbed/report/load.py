"""Reading saved results back: report/cells/<cell>/result.json and matrix.json.

Results come from other machines (CI artifacts) and other programs, so each
one is checked before it is rendered: a file that cannot be read, is not
JSON, or does not have CellResult's shape is never dropped.  It becomes an
ERROR result for its cell (culprit "harness", the reason naming the file), and
the message is kept in Loaded.problems so the caller reports it and exits 2.
A cell id names a directory, so only ids usable as one are accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from testbed.results import READABLE_VERSIONS, STATUSES, CellResult, Culprit
from testbed.safepath import cell_id_problem

CULPRITS: tuple[str, ...] = get_args(Culprit)
RESULT_NAME = "result.json"


class ReportError(Exception):
    """Bad input to the reports; the message names the file or directory.

    When raised after the reports were rendered anyway (the other cells'
    results were good), @written holds the files written.
    """

    def __init__(self, message: str, written: dict[str, Path] | None = None) -> None:
        super().__init__(message)
        self.written: dict[str, Path] = written or {}


@dataclass
class Loaded:
    """Cell id -> result (unreadable ones as ERROR), and cell id -> what was
    wrong with the unreadable ones."""

    results: dict[str, CellResult] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def check_cell_id(cell_id: object, where: str) -> str:
    """A cell id doubles as a directory and file name: refuse any that is not one."""
    if why := cell_id_problem(cell_id):
        raise ReportError(f"{where}: {why}")
    assert isinstance(cell_id, str)
    return cell_id


def _why_not_result(r: CellResult) -> str | None:
    """What is wrong with the shape of a CellResult built from JSON, or None."""
    if not isinstance(r.cell, str) or not r.cell:
        return f"'cell' must be a non-empty string, not {r.cell!r}"
    if r.status not in STATUSES:
        return f"'status' must be one of {', '.join(STATUSES)}, not {r.status!r}"
    if r.culprit is not None and r.culprit not in CULPRITS:
        return f"'culprit' must be one of {', '.join(CULPRITS)} or null, not {r.culprit!r}"
    for name in ("reason", "started"):
        if not isinstance(getattr(r, name), str):
            return f"{name!r} must be a string"
    if isinstance(r.duration_s, bool) or not isinstance(r.duration_s, int | float):
        return f"'duration_s' must be a number, not {r.duration_s!r}"
    for name in ("info", "logs"):
        value = getattr(r, name)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return f"{name!r} must map names to strings"
    for key, s in r.suites.items():
        if s.status not in STATUSES:
            return f"suite {key!r}: 'status' must be one of {', '.join(STATUSES)}, not {s.status!r}"
        if not all(isinstance(v, str) for v in (s.name, s.error, s.log)):
            return f"suite {key!r}: 'name', 'error' and 'log' must be strings"
        if isinstance(s.duration_s, bool) or not isinstance(s.duration_s, int | float):
            return f"suite {key!r}: 'duration_s' must be a number"
        for t in s.tests:
            if t.status not in STATUSES:
                return f"suite {key!r} test {t.name!r}: 'status' must be one of " \
                       f"{', '.join(STATUSES)}, not {t.status!r}"
            if not all(isinstance(v, str) for v in (t.name, t.reason, t.diagnostics)):
                return f"suite {key!r} test {t.name!r}: 'name', 'reason' and " \
                       f"'diagnostics' must be strings"
    return None


def parse_result(data: Any, where: str, cell_id: str | None = None) -> CellResult:  # noqa: ANN401
    """A CellResult from decoded JSON, checked; ReportError naming @where if bad.

    @cell_id is the id the result must carry (its directory or matrix.json key).
    """
    if not isinstance(data, dict):
        raise ReportError(f"{where}: a cell result must be a JSON object, "
                          f"not {type(data).__name__}")
    try:
        result = CellResult.from_json(data)
    except (TypeError, AttributeError, KeyError, ValueError) as e:
        raise ReportError(f"{where}: not a cell result: {e}") from e
    if why := _why_not_result(result):
        raise ReportError(f"{where}: not a cell result: {why}")
    if cell_id is not None and result.cell != cell_id:
        raise ReportError(f"{where}: holds the result of cell {result.cell!r}, "
                          f"expected {cell_id!r}")
    return result


def read_result(path: Path, cell_id: str | None = None) -> CellResult:
    """Load one saved result.json; ReportError naming @path if it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read the cell result: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ReportError(f"{path}: not valid JSON: {e}") from e
    return parse_result(data, str(path), cell_id)


def unreadable(cell_id: str, message: str) -> CellResult:
    """The stand-in shown for a cell whose saved result cannot be used."""
    return CellResult(cell=cell_id, status="ERROR", culprit="harness",
                      reason=f"unreadable result: {message}")


def result_files(report_dir: Path) -> dict[str, Path]:
    """Cell id -> report_dir/cells/<id>/result.json, for every cell that has one.

    Hidden directories are left-overs of an interrupted merge, not cells.
    """
    cells = report_dir / "cells"
    if not cells.is_dir():
        return {}
    return {d.name: d / RESULT_NAME for d in sorted(cells.iterdir())
            if not d.name.startswith(".") and (d / RESULT_NAME).is_file()}


def load_results(report_dir: Path) -> Loaded:
    """Every report_dir/cells/*/result.json; unusable ones as ERROR + a problem."""
    loaded = Loaded()
    for cell_id, path in result_files(report_dir).items():
        try:
            loaded.results[cell_id] = read_result(path, cell_id)
        except ReportError as e:
            loaded.results[cell_id] = unreadable(cell_id, str(e))
            loaded.problems[cell_id] = str(e)
    return loaded


def read_matrix_cells(path: Path) -> dict[str, Any]:
    """Cell id -> raw entry of a rendered matrix.json (a report dir that kept
    only it); ReportError naming @path if the file as a whole is unusable.
    Each entry is left for parse_result, so one bad cell spoils only itself."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read: {e}") from e
    except ValueError as e:
        raise ReportError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise ReportError(f"{path}: not a matrix report: expected an object with 'cells'")
    if data.get("version") not in READABLE_VERSIONS:
        raise ReportError(f"{path}: matrix report version {data.get('version')!r}; "
                          f"this testbed reads versions "
                          f"{', '.join(map(str, READABLE_VERSIONS))}")
    for cid in data["cells"]:
        check_cell_id(cid, f"{path}: cell {cid!r}")
    return data["cells"]
