"""`cse compare BASE NEW` on two real runs of local cells, as a CI job runs
it (a subprocess of `python -m testbed.cli`): the second run has an injected
failure (its conformance client swapped for a program that fails one case,
as in tests/test_runner.py), a cell more (allowed to fail, and failing for
real: no 32-bit emulated build) and a cell less.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from testbed import cellscript
from testbed.builds import FLAVOURS, ROOT
from testbed.compare import compare, load_run
from testbed.matrix import Cell, load_matrix
from testbed.provision.base import CommandResult
from testbed.provision.local.provisioner import LocalProvisioner
from testbed.report import write_all
from testbed.runner import RunOptions, run_cell

MATRIX = {c.id: c for c in load_matrix(ROOT / "ci/matrix.yaml")}
LINUX, EMULATED = MATRIX["local-linux-x86_64"], MATRIX["local-emulated-x86_64"]
#: fails for real (no flavour), allowed to fail like the canary
E32 = Cell("local-e32", "local", "i386", "glibc", "emulated", ("uu",), allow_failure=True)
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)
#: the injected failure: zero_length fails, a case appears, the others are gone
INJECTED = ("echo 'KTAP version 1'; echo 1..3; echo 'ok 1 echo'\n"
            "echo '# expected 0, got 4'; echo 'not ok 2 zero_length'; echo 'ok 3 brand_new'")
SLOW = "sleep {sleep}; exec {real}"
pytestmark = pytest.mark.xdist_group("compare")


def _swapped(program: Path) -> type[LocalProvisioner]:
    class Swapped(LocalProvisioner):
        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            return super().run(script.replace(CONFORMANCE, str(program)), timeout_s=timeout_s)
    return Swapped


def _program(d: Path, body: str) -> Path:
    prog = d / "suite.sh"
    prog.write_text(f"#!/bin/sh\n{body}\n")
    prog.chmod(0o755)
    return prog


def _report(d: Path, runs: list[tuple[Cell, str | None]]) -> Path:
    """A report dir of real runs: each cell run as it is (None) or with its
    conformance client replaced by the program @body."""
    opts = RunOptions(report_dir=d, token="t")
    for cell, body in runs:
        if body is None:
            run_cell(cell, opts)
        else:
            run_cell(cell, opts, _swapped(_program(d.parent, body)))
    write_all(d, issues=[])
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = _report(tmp_path_factory.mktemp("base") / "report", [(LINUX, None), (EMULATED, None)])
    new = _report(tmp_path_factory.mktemp("new") / "report",
                  [(LINUX, INJECTED), (replace(E32, allow_failure=True), None)])
    return base, new


def _cse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", "compare", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home())})


def test_what_changed(runs: tuple[Path, Path]) -> None:
    base, new = runs
    c = compare(load_run(base, []), load_run(new, []))
    assert [(ch.where, ch.before, ch.after, ch.excused) for ch in c.new_failures] == [
        ("local-e32 uu", None, "ERROR", "allowed to fail"),
        ("local-linux-x86_64 uu.zero_length", "PASS", "FAIL", "")]
    assert c.new_failures[1].reason == "expected 0, got 4"
    assert c.fixed == [] and c.still_failing == []
    assert (c.new_cells, c.removed_cells) == (["local-e32"], ["local-emulated-x86_64"])
    assert [ch.path for ch in c.new_tests] == ["uu.brand_new"]
    removed = [ch.path for ch in c.removed_tests]
    assert "uu.server_death" in removed and "uu.echo" not in removed
    assert c.gate_fails()


def test_the_gate_exits_1_on_a_new_failure(runs: tuple[Path, Path]) -> None:
    base, new = runs
    proc = _cse(str(base), str(new))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "New failures (2)" in out and "Fixed (0)" in out
    line = next(ln for ln in out.splitlines() if "zero_length" in ln)
    assert line.split()[:4] == ["local-linux-x86_64", "uu.zero_length", "PASS", "FAIL"]
    assert "allowed to fail" in next(ln for ln in out.splitlines() if "local-e32" in ln)
    assert "Removed cells (1): local-emulated-x86_64" in out
    assert out.rstrip().endswith("REGRESSION")


def test_markdown_and_the_reverse_comparison(runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, new = runs
    proc = _cse(str(base / "matrix.json"), str(new), "--markdown", "-o", str(tmp_path / "c.md"))
    assert proc.returncode == 1
    assert proc.stdout == (tmp_path / "c.md").read_text()
    assert proc.stdout.startswith("## cse compare\n\n❌ **2 new failures, 0 fixed")
    assert "| `local-linux-x86_64` | `uu.zero_length` | PASS | FAIL | expected 0, got 4 |" \
        in proc.stdout
    assert "| `local-e32` | `uu` | (new) | ERROR (allowed to fail) |" in proc.stdout
    back = _cse(str(new), str(base))
    assert back.returncode == 0, back.stdout
    assert "Fixed (1)" in back.stdout and "no new failure" in back.stdout


def test_an_excused_failure_is_never_new(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """With a known issue for the injected failure, nothing new fails: the
    gate passes, the failure is listed as newly known; --strict fails."""
    base, new = runs
    known = tmp_path / "known.yaml"
    known.write_text("known_issues:\n  - {id: zl, reason: r, cell: 'local-*', "
                     "tests: [uu.zero_length]}\n")
    # the raw results of NEW (its cells/), with the known issues applied now
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "cells").symlink_to(new / "cells")
    proc = _cse(str(base), str(tmp_path / "new"), "--known-issues", str(known))
    assert proc.returncode == 0, proc.stdout
    assert "Newly known (a known issue matches) (1)" in proc.stdout
    assert "New failures (1)" in proc.stdout  # local-e32's, allowed to fail
    assert _cse(str(base), str(tmp_path / "new"), "--known-issues", str(known),
                "--strict").returncode == 1


def _uu_seconds(report: Path) -> float:
    cell = json.loads((report / "matrix.json").read_text())["cells"][LINUX.id]
    return float(cell["suites"]["uu"]["duration_s"])


def test_a_slower_suite_is_listed(runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = runs
    # At least twice as long as the base took, on a host however loaded: +100%
    sleep_s = max(4, math.ceil(_uu_seconds(base)) + 1)
    slow = _report(tmp_path / "report", [(LINUX, SLOW.format(sleep=sleep_s, real=CONFORMANCE))])
    data = json.loads((slow / "matrix.json").read_text())["cells"][LINUX.id]
    assert data["status"] == "PASS"
    proc = _cse(str(base), str(slow), "--min-seconds", "3", "--slower", "50")
    assert proc.returncode == 0, proc.stdout
    assert "Slower suites (1)" in proc.stdout
    row = next(ln.split() for ln in proc.stdout.splitlines() if ln.startswith(LINUX.id))
    assert row[1] == "uu" and row[-1].startswith("+")
    # grown by less than --min-seconds: not listed
    grew = _uu_seconds(slow) - _uu_seconds(base)
    assert "Slower suites" not in _cse(str(base), str(slow), "--min-seconds",
                                       str(math.ceil(grew) + 5)).stdout


def test_a_run_that_cannot_be_read(tmp_path: Path) -> None:
    proc = _cse(str(tmp_path / "nothing"), str(tmp_path))
    assert proc.returncode == 2 and "not a run" in proc.stderr
    (tmp_path / "matrix.json").write_text('{"version": 9, "cells": {}}')
    proc = _cse(str(tmp_path), str(tmp_path))
    assert proc.returncode == 2 and "matrix report version 9" in proc.stderr
