"""Hostile cell ids and result paths: rejected where they enter, and no path
built from them leaves its root (testbed.safepath, its callers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.matrix import Cell, MatrixError, load_matrix
from testbed.report.html_page import render_html
from testbed.report.load import ReportError, read_matrix_cells
from testbed.report.merge import merge
from testbed.report.model import build_rows
from testbed.results import FORMAT_VERSION, CellResult
from testbed.runner import RunOptions, cell_dir, run_cell
from testbed.safepath import UnsafePath, inside

HOSTILE_IDS = ["..", ".", "../../x", "../report", "a/b", "/etc", ".hidden", "-rf", "a b",
               "a\nb", "x" * 101, "tab\tid", "caf\u00e9", ""]
CELL = """cells:
  - id: {id}
    provisioner: local
    arch: x86_64
    libc: glibc
    backend: linux
    suites: [uu]
"""


@pytest.mark.parametrize("cid", HOSTILE_IDS)
def test_matrix_refuses_hostile_ids(tmp_path: Path, cid: str) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(CELL.format(id=json.dumps(cid)))
    with pytest.raises(MatrixError, match="key 'id'"):
        load_matrix(path)


@pytest.mark.parametrize("cid", ["local-linux-x86_64", "qemu-debian12-6.1-x86_64", "A_1.b",
                                 "x" * 100])
def test_matrix_takes_ordinary_ids(tmp_path: Path, cid: str) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(CELL.format(id=cid))
    assert [c.id for c in load_matrix(path)] == [cid]


def _cell(cid: str) -> Cell:
    return Cell(id=cid, provisioner="local", arch="x86_64", libc="glibc", backend="linux",
                suites=("uu",), skip_reason="never runs")


@pytest.mark.parametrize("cid", ["..", "../../outside", ".", "a/../.."])
def test_run_cell_never_clears_outside_its_dir(tmp_path: Path, cid: str) -> None:
    """A Cell built by hand (not loaded) with a hostile id: refused before
    the runner clears report/cells/<id>, which was report/ or above."""
    report = tmp_path / "deep" / "report"
    (report / "cells").mkdir(parents=True)
    keep = [report / "keep.txt", tmp_path / "deep" / "keep.txt", tmp_path / "keep.txt"]
    for f in keep:
        f.write_text("mine")
    with pytest.raises(UnsafePath):
        run_cell(_cell(cid), RunOptions(report_dir=report))
    assert all(f.read_text() == "mine" for f in keep)


def test_cell_dir_is_under_cells(tmp_path: Path) -> None:
    assert cell_dir(tmp_path, "ok-1") == tmp_path / "cells" / "ok-1"
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePath):
        cell_dir(tmp_path, "link")


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "", "cells/\0"])
def test_inside_refuses_escapes(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UnsafePath):
        inside(tmp_path, rel)


def _result(cid: str, **logs: str) -> dict:
    return CellResult(cid, "PASS", logs=logs).to_json()


def test_matrix_json_with_hostile_ids_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "matrix.json"
    for cid in ("a b", "-x", "..", "x/y"):
        path.write_text(json.dumps({"version": FORMAT_VERSION, "cells": {cid: _result(cid)}}))
        with pytest.raises(ReportError, match="not a usable cell id"):
            read_matrix_cells(path)


def test_merge_copies_no_log_from_or_to_outside(tmp_path: Path) -> None:
    """A result from another runner names logs outside its report dir: none
    is copied, and nothing is written outside OUT."""
    src = tmp_path / "src"
    (src / "cells" / "c1").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (src / "cells" / "c1" / "result.json").write_text(json.dumps(
        _result("c1", a="../secret.txt", b="/etc/hostname", c="cells/c1/../../../secret.txt")))
    out = tmp_path / "out"
    warnings: list[str] = []
    merge([src], out, warn=warnings.append)
    assert len(warnings) == 3
    copied = {p.name for p in out.rglob("*") if p.is_file()}
    assert "secret.txt" not in copied and "hostname" not in copied


def test_html_never_links_outside_the_report(tmp_path: Path) -> None:
    (tmp_path / "outside.log").write_text("x")
    report = tmp_path / "report"
    report.mkdir()
    r = CellResult("c1", "FAIL", culprit="code", logs={"cell": "../outside.log"})
    page = render_html(build_rows({"c1": r}, None), "now", report)
    assert 'href="../outside.log"' not in page
    assert "(missing)" in page
