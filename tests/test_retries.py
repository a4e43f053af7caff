"""`cse run --retries N` and `--repeat N` on real local cells (the runner,
the cell scripts, `timeout`, the judging, all real); where a test must fail
once, the conformance client is swapped for a small program that keeps a
count in a file, as in tests/test_runner.py.  A retry runs in the cell that
is already up: the failed cases alone where the suite takes case names
(uu, uk), the whole suite where it crashed or cannot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed import cellscript
from testbed.attempts import merge_repeats, merge_retry, retry_plan
from testbed.builds import FLAVOURS, ROOT
from testbed.excuses import fails_the_run
from testbed.matrix import load_matrix
from testbed.provision.base import CommandResult
from testbed.provision.local.provisioner import LocalProvisioner
from testbed.results import SuiteResult
from testbed.results import TestResult as Case  # not "Test*": pytest would collect it
from testbed.runner import RunOptions, cell_dir, run_cell
from testbed.verdict import Verdict

LINUX = next(c for c in load_matrix(ROOT / "ci/matrix.yaml") if c.id == "local-linux-x86_64")
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)


def _swapped(program: Path) -> type[LocalProvisioner]:
    class Swapped(LocalProvisioner):
        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            return super().run(script.replace(CONFORMANCE, str(program)), timeout_s=timeout_s)
    return Swapped


def _counting(tmp: Path, runs: dict[int, str]) -> Path:
    """A suite program that prints runs[n] the n-th time it runs (the last
    one given, after that), logging its arguments (the case names), and
    exits 1 when a case is not ok."""
    for n, text in runs.items():
        (tmp / f"run{n}.ktap").write_text(text + "\n")
    prog = tmp / "suite.sh"
    prog.write_text(f"""#!/bin/sh
n=$(( $(cat {tmp}/count 2>/dev/null || echo 0) + 1 ))
echo $n > {tmp}/count
echo "$n: $*" >> {tmp}/args
f={tmp}/run$n.ktap
[ -e "$f" ] || f={tmp}/run{max(runs)}.ktap
cat "$f"
! grep -q '^not ok' "$f"
""")
    prog.chmod(0o755)
    return prog


def _ktap(*cases: str) -> str:
    lines = ["KTAP version 1", f"1..{len(cases)}"]
    lines += [c.replace("#", str(i + 1), 1) for i, c in enumerate(cases)]
    return "\n".join(lines)


def _run(tmp: Path, runs: dict[int, str], **opts: int):  # noqa: ANN202 - CellResult
    o = RunOptions(report_dir=tmp / "report", token="t", **opts)
    return run_cell(LINUX, o, _swapped(_counting(tmp, runs)))


def test_a_case_that_fails_then_passes_is_flaky(tmp_path: Path) -> None:
    r = _run(tmp_path, {1: _ktap("ok # echo", "not ok # zero_length"),
                        2: _ktap("ok # zero_length")}, retries=2)
    uu = r.suites["uu"]
    assert [(t.name, t.status, t.attempts) for t in uu.tests] == \
        [("echo", "PASS", 1), ("zero_length", "FLAKY", 2)]
    assert (uu.status, uu.attempts, r.status, r.culprit) == ("FLAKY", 2, "FLAKY", None)
    assert not fails_the_run(r) and fails_the_run(r, strict=True)
    # the retry ran the failed case alone, in the same cell, and kept its files
    assert (tmp_path / "args").read_text() == "1: \n2: zero_length\n"
    d = cell_dir(tmp_path / "report", LINUX.id)
    assert "zero_length" in (d / "cell.attempt-2.sh").read_text()
    assert (d / "uu.attempt-2.log").is_file() and r.info["attempts"] == "2"
    assert "cell.attempt-2.log" in r.logs["output-attempt-2"]
    assert "not ok 2 zero_length" in (d / "cell.log").read_text(), "attempt 1's log kept"


def test_a_case_that_always_fails_stays_failed(tmp_path: Path) -> None:
    r = _run(tmp_path, {1: _ktap("ok # echo", "not ok # zero_length"),
                        2: _ktap("not ok # zero_length")}, retries=2)
    assert (r.status, r.culprit, r.reason) == ("FAIL", "code", "uu: not ok: zero_length")
    t = r.suites["uu"].tests[1]
    assert (t.status, t.attempts, r.suites["uu"].attempts) == ("FAIL", 3, 3)
    assert (tmp_path / "args").read_text() == "1: \n2: zero_length\n3: zero_length\n"


def test_a_suite_that_crashed_is_retried_whole(tmp_path: Path) -> None:
    """KTAP cut short is no case to select: the whole suite runs again."""
    r = _run(tmp_path, {1: "KTAP version 1\n1..2\nok 1 echo",
                        2: _ktap("ok # echo", "ok # zero_length")}, retries=1)
    uu = r.suites["uu"]
    assert (uu.status, uu.attempts) == ("FLAKY", 2)
    assert uu.error.startswith("attempt 1: crashed: KTAP incomplete")
    assert [t.status for t in uu.tests] == ["PASS", "PASS"]
    assert (tmp_path / "args").read_text() == "1: \n2: \n"


def test_no_retry_without_retries(tmp_path: Path) -> None:
    r = _run(tmp_path, {1: _ktap("ok # echo", "not ok # zero_length"), 2: _ktap("ok # x")})
    assert r.status == "FAIL" and "attempts" not in r.info
    assert (tmp_path / "args").read_text() == "1: \n"


def test_repeat_runs_every_suite_and_a_single_failure_fails(tmp_path: Path) -> None:
    ok = _ktap("ok # echo", "ok # zero_length")
    r = _run(tmp_path, {1: ok, 2: _ktap("ok # echo", "not ok # zero_length"), 3: ok}, repeat=3)
    uu = r.suites["uu"]
    assert (r.status, uu.attempts) == ("FAIL", 3)
    assert uu.tests[1].reason == "failed in 1 of 3 runs" and uu.tests[1].attempts == 3
    assert uu.error.startswith("failed in 1 of 3 runs")
    assert (tmp_path / "args").read_text() == "1: \n2: \n3: \n"


def test_repeat_then_retry(tmp_path: Path) -> None:
    """Under stress a case failed once; its retry passed: FLAKY, 3 attempts."""
    ok = _ktap("ok # echo", "ok # zero_length")
    r = _run(tmp_path, {1: ok, 2: _ktap("ok # echo", "not ok # zero_length"),
                        3: _ktap("ok # zero_length")}, repeat=2, retries=1)
    t = r.suites["uu"].tests[1]
    assert (r.status, t.status, t.attempts) == ("FLAKY", "FLAKY", 3)


# --- the merging rules on their own -------------------------------------------

def _v(status: str, *tests: tuple[str, str], whole: bool = False) -> Verdict:
    return Verdict(SuiteResult("uu", status, 1.0, [Case(n, s) for n, s in tests],  # type: ignore[arg-type]
                               error="x" if status == "FAIL" else ""),
                   "code" if status == "FAIL" else None, whole=whole)


def test_retry_plan_chooses_cases_or_the_suite() -> None:
    failing = _v("FAIL", ("a", "PASS"), ("b", "FAIL"))
    assert retry_plan({"uu": failing, "kk": _v("FAIL", ("b", "FAIL"))}, {"uu", "kk"}) == \
        {"uu": ["b"], "kk": None}
    assert retry_plan({"uu": _v("FAIL", ("b", "FAIL"), whole=True)}, {"uu"}) == {"uu": None}
    assert retry_plan({"uu": failing, "build": _v("FAIL")}, {"uu"}) == {"uu": ["b"]}
    assert retry_plan({"uu": _v("PASS", ("a", "PASS"))}, {"uu"}) == {}


def test_merge_rules() -> None:
    merged = merge_retry(_v("FAIL", ("a", "PASS"), ("b", "FAIL")), _v("PASS", ("b", "PASS")),
                         2, ["b"])
    assert merged.result.status == "FLAKY" and merged.culprit is None
    still = merge_retry(_v("FAIL", ("b", "FAIL")), _v("FAIL", ("b", "FAIL")), 2, ["b"])
    assert still.result.status == "FAIL" and still.result.tests[0].attempts == 2
    runs = [{"uu": _v("PASS", ("a", "PASS"))}, {"uu": _v("FAIL", ("a", "FAIL"))}]
    rep = merge_repeats(runs)["uu"]
    assert (rep.result.status, rep.result.tests[0].reason) == ("FAIL", "failed in 1 of 2 runs")


# --- the command ---------------------------------------------------------------

def test_cse_run_takes_retries_and_repeat(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "testbed.cli", "run", LINUX.id, "-j", "1",
                           "--repeat", "2", "--retries", "1", "--report-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home())})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((tmp_path / "matrix.json").read_text())["cells"][LINUX.id]
    assert (r["status"], r["info"]["attempts"], r["suites"]["uu"]["attempts"]) == \
        ("PASS", "2", 2)
    for bad in (["--retries", "-1"], ["--repeat", "0"]):
        proc = subprocess.run([sys.executable, "-m", "testbed.cli", "run", LINUX.id, *bad],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert proc.returncode == 2, bad


@pytest.mark.parametrize(("retries", "repeat"), [(-1, 1), (0, 0)])
def test_bad_options(retries: int, repeat: int) -> None:
    with pytest.raises(ValueError, match="retries must be 0 or more"):
        RunOptions(report_dir=Path("r"), retries=retries, repeat=repeat)
