"""Known issues (ci/known-issues.yaml, testbed/known_issues.py) on real runs
of a local cell: the failures they match become KNOWN, the rest stays red,
a stale entry (its tests passed) and an expired one (it masks nothing) are
said, and `cse run` exits 1 only on what no issue excuses (--strict: also
on KNOWN).  Where a failure is needed, the cell's conformance client is
swapped for a small program that fails (as in tests/test_runner.py);
everything else, build, script, judging and reports, is real.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from testbed import cellscript, known_issues
from testbed.builds import FLAVOURS, ROOT
from testbed.excuses import fails_the_run
from testbed.known_issues import KnownIssue, load_known_issues
from testbed.matrix import Cell, MatrixError, load_matrix
from testbed.provision.base import CommandResult
from testbed.provision.local.provisioner import LocalProvisioner
from testbed.results import CellResult
from testbed.runner import RunOptions, run_cell

LINUX = next(c for c in load_matrix(ROOT / "ci/matrix.yaml") if c.id == "local-linux-x86_64")
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)
TODAY = date(2026, 1, 15)
#: two of three cases fail
FAILING = ("echo 'KTAP version 1'; echo 1..3; echo 'ok 1 echo'; echo 'not ok 2 zero_length'\n"
           "echo 'not ok 3 server_death'; exit 1")


def _swapped(program: Path) -> type[LocalProvisioner]:
    class Swapped(LocalProvisioner):
        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            return super().run(script.replace(CONFORMANCE, str(program)), timeout_s=timeout_s)
    return Swapped


def _run(tmp: Path, body: str | None, cell: Cell = LINUX, **opts: int) -> CellResult:
    """@cell run for real; its uu suite is @body's program when given."""
    o = RunOptions(report_dir=tmp / "report", token="t", **opts)
    if body is None:
        return run_cell(cell, o)
    prog = tmp / "suite.sh"
    prog.write_text(f"#!/bin/sh\n{body}\n")
    prog.chmod(0o755)
    return run_cell(cell, o, _swapped(prog))


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> CellResult:
    r = _run(tmp_path_factory.mktemp("failing"), FAILING)
    assert (r.status, r.culprit) == ("FAIL", "code"), r.reason
    return r


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> CellResult:
    r = _run(tmp_path_factory.mktemp("passing"), None)
    assert r.status == "PASS", r.reason
    return r


def _issues(tmp_path: Path, text: str) -> list[KnownIssue]:
    path = tmp_path / "known.yaml"
    path.write_text("known_issues:\n" + text)
    return load_known_issues(path)


def test_a_matching_failure_is_known_and_the_rest_stays_red(failing: CellResult,
                                                          tmp_path: Path) -> None:
    issues = _issues(tmp_path, "  - {id: zl, reason: slow zero-length path, cell: 'local-*',\n"
                               "     tests: [uu.zero_length]}\n")
    applied = known_issues.apply({failing.cell: failing}, issues, TODAY)
    r = applied.results[failing.cell]
    tests = {t.name: (t.status, t.known_issue) for t in r.suites["uu"].tests}
    assert tests == {"echo": ("PASS", ""), "zero_length": ("KNOWN", "zl"),
                     "server_death": ("FAIL", "")}
    assert r.status == "FAIL" and fails_the_run(r)
    assert applied.issues[0].state == "active"
    assert applied.issues[0].masked == [f"{failing.cell}: uu.zero_length"]
    assert failing.suites["uu"].tests[1].status == "FAIL", "the saved result must not change"


def test_every_failure_known_makes_the_cell_known(failing: CellResult, tmp_path: Path) -> None:
    issues = _issues(tmp_path, "  - {id: all-uu, reason: r, provisioner: local, arch: x86_64,\n"
                               "     tests: 'uu.*'}\n")
    r = known_issues.apply({failing.cell: failing}, issues, TODAY).results[failing.cell]
    assert (r.status, r.suites["uu"].status, r.suites["uu"].known_issue) == \
        ("KNOWN", "KNOWN", "all-uu")
    assert r.reason.startswith("known issue all-uu: ") and r.culprit == "code"
    assert not fails_the_run(r) and fails_the_run(r, strict=True)


@pytest.mark.parametrize("where", ["arch: arm64", "provisioner: docker", "cell: 'qemu-*'",
                                   "libc: musl", "compiler: clang", "kernel: '6.1'"])
def test_axes_that_do_not_match_mask_nothing(failing: CellResult, tmp_path: Path,
                                             where: str) -> None:
    issues = _issues(tmp_path, f"  - {{id: other, reason: r, {where}}}\n")
    applied = known_issues.apply({failing.cell: failing}, issues, TODAY)
    assert applied.results[failing.cell].status == "FAIL"
    assert (applied.issues[0].state, applied.issues[0].cells) == ("idle", [])


def test_an_expired_issue_masks_nothing(failing: CellResult, tmp_path: Path) -> None:
    issues = _issues(tmp_path, "  - {id: old, reason: r, cell: '*-x86_64', "
                               "expires: 2026-01-14}\n")
    applied = known_issues.apply({failing.cell: failing}, issues, TODAY)
    assert applied.results[failing.cell].status == "FAIL"
    assert applied.issues[0].state == "expired"
    # on its last day it still masks
    applied = known_issues.apply({failing.cell: failing}, issues, date(2026, 1, 14))
    assert applied.results[failing.cell].status == "KNOWN"


def test_an_issue_whose_tests_pass_is_stale(passing: CellResult, tmp_path: Path) -> None:
    issues = _issues(tmp_path, "  - {id: fixed, reason: r, cell: local-linux-x86_64, "
                               "tests: [uu.echo]}\n"
                               "  - {id: sometimes, reason: r, cell: local-linux-x86_64, "
                               "intermittent: true}\n"
                               "  - {id: elsewhere, reason: r, arch: arm64}\n")
    applied = known_issues.apply({passing.cell: passing}, issues, TODAY)
    assert [s.state for s in applied.issues] == ["stale", "idle", "idle"]
    assert applied.results[passing.cell].status == "PASS"


def test_a_suite_that_failed_as_a_whole_matches_by_its_name(tmp_path: Path) -> None:
    # uu alone: under load the real kv suite once outlasted the 2 s too, and
    # its own failure (excused by nothing) kept the cell red
    uu_only = dataclasses.replace(LINUX, suites=("build", "uu"))
    hung = _run(tmp_path, "echo 'KTAP version 1'; echo 1..2; echo 'ok 1 echo'; sleep 60",
                uu_only, suite_timeout_s=2)
    assert hung.reason == "uu: hung: killed after 2 s"
    by_test = _issues(tmp_path, "  - {id: t, reason: r, cell: '*', tests: [uu.echo]}\n")
    assert known_issues.apply({hung.cell: hung}, by_test, TODAY).results[hung.cell].status \
        == "FAIL"
    by_suite = _issues(tmp_path, "  - {id: s, reason: r, cell: '*', tests: [uu]}\n")
    r = known_issues.apply({hung.cell: hung}, by_suite, TODAY).results[hung.cell]
    assert (r.status, r.suites["uu"].known_issue) == ("KNOWN", "s")


# --- the file, checked like the matrix --------------------------------------

@pytest.mark.parametrize(("entry", "line", "key", "why"), [
    ("  - {id: a, reason: r}\n", 2, "cell", "missing: say which cells"),
    ("  - {reason: r, cell: x}\n", 2, "id", "missing"),
    ("  - id: a\n    cell: x\n", 2, "reason", "missing"),
    ("  - id: a\n    reason: r\n    cell: x\n    arch: sparc\n", 5, "arch",
     "unknown value 'sparc'"),
    ("  - id: a\n    reason: r\n    provisioner: lxc\n", 4, "provisioner",
     "unknown value 'lxc'"),
    ("  - id: a\n    reason: r\n    cell: x\n    expires: soon\n", 5, "expires",
     "a date such as"),
    ("  - id: a\n    reason: r\n    cell: x\n    intermittent: maybe\n", 5, "intermittent",
     "true or false"),
    ("  - id: a\n    reason: r\n    cell: x\n    tests: []\n", 5, "tests", "non-empty"),
    ("  - id: a\n    reason: r\n    cell: x\n    colour: red\n", 5, "colour", "unknown key"),
    ("  - id: 'a b'\n    reason: r\n    cell: x\n", 2, "id", "use letters"),
    ("  - {id: a, reason: r, cell: x}\n  - {id: a, reason: r, cell: y}\n", 3, "id",
     "duplicate id"),
])
def test_file_errors_name_file_line_issue_and_key(tmp_path: Path, entry: str, line: int,
                                                  key: str, why: str) -> None:
    with pytest.raises(MatrixError) as err:
        _issues(tmp_path, entry)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'known.yaml'}:{line}: issue ") and \
        f"key {key!r}" in msg and why in msg, msg


def test_the_checked_in_file_is_valid() -> None:
    load_known_issues(known_issues.DEFAULT_FILE)


# --- cse run and the reports ---------------------------------------------------

def _cse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT,
                          env={"COLUMNS": "250", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home())})


def test_cse_run_exits_1_only_on_what_no_issue_excuses(tmp_path: Path) -> None:
    """A cell that ERRORs for real (no 32-bit emulated build flavour): 1
    without an issue, 0 with one (shown KNOWN), 1 again with --strict."""
    matrix = tmp_path / "m.yaml"
    matrix.write_text("cells:\n  - {id: local-e32, provisioner: local, arch: i386, "
                      "libc: glibc, backend: emulated, suites: [uu]}\n")
    known = tmp_path / "known.yaml"
    known.write_text("known_issues:\n  - id: no-e32\n    reason: no 32-bit emulated flavour\n"
                     "    link: https://tracker.example/CSE-7\n    cell: local-e32\n")
    empty = tmp_path / "none.yaml"
    empty.write_text("known_issues: []\n")
    common = ["--matrix", str(matrix), "run", "-j", "1", "--report-dir", str(tmp_path / "r")]
    proc = _cse(*common, "--known-issues", str(empty))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    proc = _cse(*common, "--known-issues", str(known))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(ln.split() for ln in proc.stdout.splitlines() if ln.split()[:1] == ["local-e32"])
    assert row[1:3] == ["KNOWN", "harness"], row
    md = (tmp_path / "r" / "matrix.md").read_text()
    assert "| `local-e32` | 🟣 KNOWN |" in md
    assert "| [no-e32](https://tracker.example/CSE-7) | active | 1 |" in md
    data = json.loads((tmp_path / "r" / "matrix.json").read_text())
    assert data["cells"]["local-e32"]["suites"]["uu"]["known_issue"] == "no-e32"
    assert data["known_issues"][0]["state"] == "active"
    saved = json.loads((tmp_path / "r" / "cells" / "local-e32" / "result.json").read_text())
    assert saved["status"] == "ERROR", "the run's own record keeps what happened"
    proc = _cse(*common, "--known-issues", str(known), "--strict")
    assert proc.returncode == 1


def test_an_invalid_known_issues_file_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "known.yaml"
    bad.write_text("known_issues:\n  - {id: a, reason: r, arch: sparc}\n")
    proc = _cse("run", "local-linux-x86_64", "--known-issues", str(bad),
                "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and f"{bad}:2: issue 'a': key 'arch'" in proc.stderr
    assert not (tmp_path / "r").exists()
