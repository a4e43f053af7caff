"""`cse report merge`: join the report dirs of many CI runners into one.

Each source is a report dir as downloaded from a CI artifact: DIR/cells/<id>/
result.json with the cell's logs beside it, or only DIR/matrix.json.  Every
cell's directory is copied whole (logs included) into OUT/cells/<id>/, then
the reports are rendered from OUT as `cse report` would.

The same cell found more than once (a rerun job, overlapping artifacts, or
OUT's own earlier result, which takes part like any source) keeps the copy
with the newest `started`, a readable copy always beating an unreadable one,
and says so on stderr unless the copies are identical.  Nothing is dropped
silently: a source with no results and every unreadable result is a problem,
raised as a ReportError after the rest was merged and rendered.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from testbed.known_issues import KnownIssue
from testbed.matrix import Cell
from testbed.report.files import atomic_copy_file, atomic_write, replace_dir, staging_dir
from testbed.report.history import HISTORY_DIR
from testbed.report.load import (
    RESULT_NAME,
    Loaded,
    ReportError,
    load_results,
    parse_result,
    read_matrix_cells,
    read_result,
    result_files,
)
from testbed.report.render import render
from testbed.results import CellResult, SuiteResult
from testbed.safepath import UnsafePath, check_cell_id, inside

_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class Found:
    """One copy of one cell's result in one source."""

    cell: str
    source: Path
    result: CellResult | None       # None: unreadable, see problem
    problem: str = ""
    celldir: Path | None = None     # source/cells/<id>, when the copy has one
    raw: Any = None                 # the matrix.json entry, when it has no celldir

    @property
    def started(self) -> datetime:
        """When the run began; unknown or unparsable sorts as the oldest."""
        text = self.result.started if self.result else ""
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return _OLDEST
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)

    def describe(self) -> str:
        when = self.result.started if self.result and self.result.started else "unknown"
        return f"{self.source} ({'unreadable' if self.result is None else f'started {when}'})"


def _from_matrix_json(source: Path, path: Path) -> list[Found]:
    """The cells of source/matrix.json, each checked on its own."""
    found = []
    for cid, raw in read_matrix_cells(path).items():
        try:
            found.append(Found(cid, source, parse_result(raw, f"{path}: cell {cid!r}", cid),
                               raw=raw))
        except ReportError as e:
            found.append(Found(cid, source, None, str(e), raw=raw))
    return found


def orphans(source: Path, found: list[Found]) -> list[Path]:
    """Cell directories of @source that no result speaks for (a runner killed
    mid-cell): their logs are not merged, and the caller says so."""
    cells = source / "cells"
    known = {f.cell for f in found}
    return [d for d in sorted(cells.iterdir()) if d.is_dir() and not d.name.startswith(".")
            and d.name not in known] if cells.is_dir() else []


def scan(source: Path, with_matrix_json: bool = True) -> list[Found]:
    """Every cell result in one report dir; ReportError if it holds none.

    cells/<id>/result.json is the runner's own record and wins over the same
    cell in a matrix.json beside it; matrix.json adds the cells it alone has
    (not for OUT, whose matrix.json was rendered from its cells/ and may
    list cells since removed from it).
    """
    found: dict[str, Found] = {}
    for cid, path in result_files(source).items():
        try:
            found[cid] = Found(cid, source, read_result(path, cid), celldir=path.parent)
        except ReportError as e:
            found[cid] = Found(cid, source, None, str(e), celldir=path.parent)
    if with_matrix_json and (source / "matrix.json").is_file():
        for f in _from_matrix_json(source, source / "matrix.json"):
            found.setdefault(f.cell, f)
    if not found:
        raise ReportError(f"{source}: no results: expected {source}/cells/<cell>/{RESULT_NAME} "
                          f"or {source}/matrix.json")
    return list(found.values())


def choose(copies: list[Found]) -> Found:
    """The copy to keep: readable first, then the newest start, then one with
    its cell directory (logs) over a bare matrix.json entry, then the latest
    source on the command line."""
    best = max(range(len(copies)),
               key=lambda i: (copies[i].result is not None, copies[i].started,
                              copies[i].celldir is not None, i))
    return copies[best]


def _same(copies: list[Found]) -> bool:
    first = copies[0].result
    return first is not None and all(c.result is not None and c.result.to_json() ==
                                     first.to_json() for c in copies)


def _log_paths(r: CellResult) -> list[str]:
    return [*r.logs.values(), *(s.log for s in r.suites.values() if s.log)]


def _install(f: Found, out: Path, warn: Callable[[str], None]) -> None:
    """Copy one chosen cell into out/cells/<id>/ (replacing what was there)."""
    dest = inside(out / "cells", check_cell_id(f.cell))
    if f.celldir is not None and f.celldir.resolve() == dest.resolve():
        return  # OUT's own earlier result won
    staged = staging_dir(dest)
    try:
        if f.celldir is not None:
            shutil.copytree(f.celldir, staged, symlinks=True, dirs_exist_ok=True)
        else:
            atomic_write(staged / RESULT_NAME, json.dumps(f.raw, indent=2) + "\n")
        own = f"cells/{f.cell}/"
        for rel in _log_paths(f.result) if f.result else []:
            try:
                src = inside(f.source, rel)  # no symlink out of the source either
            except UnsafePath:
                warn(f"cell {f.cell}: log path {rel!r} is not under the report dir; "
                     f"not copied")
                continue
            if not src.is_file():
                continue  # shown as missing in matrix.html
            if rel.startswith(own):
                if f.celldir is None:
                    atomic_copy_file(src, staged / rel[len(own):])
            else:
                atomic_copy_file(src, inside(out, rel))
        replace_dir(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _unreported(cell: Cell, out: Path, sources: list[Path]) -> None:
    """Record @cell, which no source reported, as an ERROR of the harness."""
    why = (f"no runner reported this cell (none of the {len(sources)} merged report dirs "
           f"has it: its CI job died before uploading its report, or never ran)")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result = CellResult(cell.id, "ERROR", "harness", why, started=now,
                        info={"provisioner": cell.provisioner, "arch": cell.arch,
                              "kernel": cell.kernel, "libc": cell.libc,
                              "backend": cell.backend, "compiler": cell.compiler,
                              "os": cell.os, "image": cell.image or "",
                              **({"allow_failure": "true"} if cell.allow_failure else {})},
                        suites={s: SuiteResult(s, "ERROR", error=why) for s in cell.suites})
    result.save(inside(out / "cells", check_cell_id(cell.id)) / RESULT_NAME)


def merge(sources: list[Path], out: Path, matrix_cells: list[Cell] | None = None,
          warn: Callable[[str], None] = lambda msg: None,
          issues: list[KnownIssue] | None = None,
          history: list[Path] | None = None) -> dict[str, Path]:
    """Merge the report dirs @sources into @out and render its reports.

    Every cell of @matrix_cells that no source reported (its CI job died
    before uploading, or never ran) gets an ERROR result blamed on the
    harness, so it shows as what it is, never just missing.  Each source's
    history/ and the history folders @history (an earlier run's) join OUT's.

    A source that does not exist is a typo: ReportError before anything is
    touched.  Sources without results and unreadable results are reported
    in one ReportError after merging and rendering everything else.
    """
    for src in sources:
        if not src.is_dir():
            raise ReportError(f"{src}: not a directory (expected a report dir holding "
                              f"cells/<cell>/{RESULT_NAME} or matrix.json)")
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    problems: list[str] = []
    copies: dict[str, list[Found]] = {}
    for f in scan(out, with_matrix_json=False) if result_files(out) else []:
        copies.setdefault(f.cell, []).append(f)
    for src in sources:
        if src.resolve() == out.resolve():
            continue  # already taken part as OUT's own results
        try:
            found = scan(src)
        except ReportError as e:
            problems.append(str(e))
            continue
        for f in found:
            copies.setdefault(f.cell, []).append(f)
        for d in orphans(src, found):
            warn(f"{d}: no {RESULT_NAME} for this cell; its files are not merged")

    reported: set[str] = set()
    for cid, found in copies.items():
        keep = choose(found)
        if len(found) > 1 and not _same(found):
            warn(f"cell {cid} found {len(found)} times: "
                 f"{'; '.join(f.describe() for f in found)}; keeping {keep.source}")
        problems += [f.problem for f in found if f.result is None]
        if keep.result is None:
            reported.add(cid)
        _install(keep, out, warn)

    for cell in matrix_cells or []:
        if cell.id not in copies and not (out / "cells" / cell.id / RESULT_NAME).is_file():
            _unreported(cell, out, sources)

    loaded: Loaded = load_results(out)
    history_from = [src / HISTORY_DIR for src in sources if src.resolve() != out.resolve()]
    written, history_problems = render(out, loaded, matrix_cells, issues,
                                       history_from + list(history or []))
    problems += [msg for cid, msg in loaded.problems.items() if cid not in reported]
    problems += history_problems
    if problems:
        raise ReportError("\n".join(problems), written)
    return written
