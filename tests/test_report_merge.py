"""`cse report merge`: the report dirs of many CI runners joined into one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml
from test_report_data import SAMPLE_MATRIX, save_results

from testbed import cli
from testbed.builds import ROOT
from testbed.matrix import load_matrix
from testbed.report import ReportError
from testbed.report.merge import merge
from testbed.report.render import write_all
from testbed.results import CellResult, SuiteResult
from testbed.results import TestResult as Case


def _result(cell: str, status: str = "PASS", started: str = "2024-05-01T10:00:00+00:00",
            reason: str = "") -> CellResult:
    """A one-suite result whose log lives in its cell dir."""
    tests = [Case("echo", "PASS"), Case("zero_length", status, reason)]
    return CellResult(cell, status, culprit="code" if status == "FAIL" else None, reason=reason,
                      duration_s=3.0, started=started,
                      suites={"uu": SuiteResult("uu", status, 2.0, tests,
                                                log=f"cells/{cell}/uu.log")},
                      logs={"console": f"cells/{cell}/console.log"})


def _runner(root: Path, name: str, *results: CellResult) -> Path:
    """A runner's report dir as its artifact holds it: cells with logs, rendered."""
    report = root / name
    report.mkdir(parents=True)
    save_results(report, list(results))
    write_all(report)
    return report


def _cells(report: Path) -> dict[str, CellResult]:
    data = json.loads((report / "matrix.json").read_text())
    return {cid: CellResult.from_json(r) for cid, r in data["cells"].items()}


def test_merge_joins_runners_and_keeps_the_newest(tmp_path: Path) -> None:
    old = _result("b", "FAIL", "2024-05-01T09:00:00+00:00", "flaky")
    new = _result("b", "PASS", "2024-05-01T11:00:00Z")
    one = _runner(tmp_path, "one", _result("a"), old)
    two = _runner(tmp_path, "two", new, _result("c", "FAIL", reason="broken"))
    warnings: list[str] = []
    out = tmp_path / "out"
    written = merge([two, one], out, None, warn=warnings.append)  # newest first on purpose

    assert _cells(out) == {"a": _result("a"), "b": new, "c": _result("c", "FAIL",
                                                                        reason="broken")}
    assert (out / "cells" / "b" / "uu.log").read_text() == "log of b: cells/b/uu.log\n"
    assert (out / "cells" / "a" / "console.log").is_file()
    assert CellResult.load(out / "cells" / "b" / "result.json") == new
    (w,) = warnings
    assert "cell b found 2 times" in w and f"keeping {two}" in w and str(one) in w
    assert set(written) == {"matrix.json", "matrix.md", "matrix.html", "support.md", "junit/a.xml",
                            "junit/b.xml", "junit/c.xml"}
    assert JUnitXml.fromfile(str(out / "junit" / "c.xml")).failures == 1
    assert not [p for p in (out / "cells").iterdir() if p.name.startswith(".")]


def test_identical_copies_merge_silently(tmp_path: Path) -> None:
    one = _runner(tmp_path, "one", _result("a"))
    two = _runner(tmp_path, "two", _result("a"))
    warnings: list[str] = []
    merge([one, two], tmp_path / "out", None, warn=warnings.append)
    merge([one, two], tmp_path / "out", None, warn=warnings.append)  # again, into itself
    assert warnings == []
    assert _cells(tmp_path / "out") == {"a": _result("a")}


def test_a_dir_with_only_matrix_json(tmp_path: Path) -> None:
    full = _runner(tmp_path, "full", _result("a"), _result("b", "FAIL", reason="no"))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "matrix.json").write_text((full / "matrix.json").read_text())
    (bare / "cells" / "b").mkdir(parents=True)  # one log survived, no result.json
    (bare / "cells" / "b" / "uu.log").write_text("the log\n")
    out = tmp_path / "out"
    merge([bare], out)
    assert _cells(out) == _cells(full)
    assert CellResult.load(out / "cells" / "a" / "result.json") == _result("a")
    assert (out / "cells" / "b" / "uu.log").read_text() == "the log\n"
    html = (out / "matrix.html").read_text()
    assert 'href="cells/b/uu.log"' in html and "cells/a/uu.log: not in the report" in html


def test_result_json_beats_its_own_matrix_json(tmp_path: Path) -> None:
    """A runner dir holds both; the runner's own record is what counts."""
    one = _runner(tmp_path, "one", _result("a"))
    _result("a", "FAIL", reason="edited").save(one / "cells" / "a" / "result.json")
    merge([one], tmp_path / "out")
    assert _cells(tmp_path / "out")["a"].reason == "edited"


def test_a_dir_without_results_is_an_error_but_the_rest_merges(tmp_path: Path) -> None:
    good = _runner(tmp_path, "good", _result("a"))
    empty = tmp_path / "empty"
    (empty / "cells" / "x").mkdir(parents=True)
    with pytest.raises(ReportError) as err:
        merge([good, empty], tmp_path / "out")
    assert f"{empty}: no results" in str(err.value)
    assert "matrix.html" in err.value.written
    assert set(_cells(tmp_path / "out")) == {"a"}


def test_a_missing_dir_stops_before_touching_out(tmp_path: Path) -> None:
    good = _runner(tmp_path, "good", _result("a"))
    with pytest.raises(ReportError, match="typo: not a directory"):
        merge([good, tmp_path / "typo"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unreadable_copy_loses_to_a_readable_one(tmp_path: Path) -> None:
    bad = _runner(tmp_path, "bad", _result("a", started="2024-06-01T00:00:00+00:00"))
    (bad / "cells" / "a" / "result.json").write_text("{oops")
    good = _runner(tmp_path, "good", _result("a"))
    warnings: list[str] = []
    with pytest.raises(ReportError) as err:
        merge([bad, good], tmp_path / "out", None, warn=warnings.append)
    assert f"{bad}/cells/a/result.json: not valid JSON" in str(err.value)
    assert _cells(tmp_path / "out") == {"a": _result("a")}
    assert "(unreadable)" in warnings[0] and f"keeping {good}" in warnings[0]


def test_an_only_unreadable_copy_is_kept_with_its_logs(tmp_path: Path) -> None:
    bad = _runner(tmp_path, "bad", _result("a"))
    (bad / "cells" / "a" / "result.json").write_text("[]")
    good = _runner(tmp_path, "good", _result("b"))
    with pytest.raises(ReportError) as err:
        merge([bad, good], tmp_path / "out")
    assert str(err.value).count("must be a JSON object") == 1  # reported once
    cells = _cells(tmp_path / "out")
    assert cells["a"].status == "ERROR" and cells["a"].culprit == "harness"
    assert cells["b"].status == "PASS"
    assert (tmp_path / "out" / "cells" / "a" / "uu.log").is_file()


def test_out_takes_part_and_a_newer_result_there_wins(tmp_path: Path) -> None:
    out = _runner(tmp_path, "out", _result("a", started="2024-07-01T00:00:00+00:00"))
    older = _runner(tmp_path, "older", _result("a", "FAIL", reason="old"), _result("b"))
    warnings: list[str] = []
    merge([older], out, None, warn=warnings.append)
    cells = _cells(out)
    assert cells["a"].status == "PASS" and set(cells) == {"a", "b"}
    assert f"keeping {out}" in warnings[0]


def test_bad_cell_id_in_matrix_json(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "matrix.json").write_text(json.dumps(
        {"version": 1, "cells": {"../escape": _result("a").to_json()}}))
    with pytest.raises(ReportError) as err:
        merge([src], tmp_path / "out")
    assert f"{src}/matrix.json" in str(err.value) and "'../escape'" in str(err.value)
    assert not (tmp_path / "escape").exists()


def test_cli_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = _runner(tmp_path, "one", _result("local-linux-x86_64"))
    two = _runner(tmp_path, "two", _result("local-emulated-x86_64", "FAIL", reason="x"))
    out = tmp_path / "merged"
    assert cli.main(["report", "merge", str(one), str(two), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out / 'matrix.md'}" in captured.out and captured.err == ""
    md = (out / "matrix.md").read_text()
    # a cell of the default matrix that no runner reported is an error of the harness
    assert "| `ssh-debian12-arm64` | 💥 ERROR | harness |" in md
    assert "no runner reported this cell" in md

    (tmp_path / "empty").mkdir()
    assert cli.main(["report", "merge", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert f"{tmp_path / 'empty'}: no results" in capsys.readouterr().err
    assert cli.main(["report", "merge"]) == 2  # at least one DIR


def test_python_m_testbed_report_merge(tmp_path: Path) -> None:
    one = _runner(tmp_path, "one", _result("a"))
    two = _runner(tmp_path, "two", _result("a", "FAIL", "2025-01-01T00:00:00+00:00", "x"))
    proc = subprocess.run([sys.executable, "-m", "testbed.report", "merge", str(one), str(two),
                           "-o", str(tmp_path / "out"), "--no-matrix"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "warning: cell a found 2 times" in proc.stderr
    assert _cells(tmp_path / "out")["a"].status == "FAIL"


def test_a_cell_dir_without_result_is_named(tmp_path: Path) -> None:
    """A runner killed mid-cell leaves logs and no result: said, not hidden."""
    src = _runner(tmp_path, "src", _result("a"))
    (src / "cells" / "killed").mkdir()
    (src / "cells" / "killed" / "console.log").write_text("boot...\n")
    warnings: list[str] = []
    merge([src], tmp_path / "out", None, warn=warnings.append)
    assert warnings == [f"{src / 'cells' / 'killed'}: no result.json for this cell; "
                        f"its files are not merged"]


def test_matrix_cells_no_runner_reported_are_errors(tmp_path: Path) -> None:
    """A CI job that died before uploading leaves its cells to the merge: ERROR,
    culprit harness, never dropped; --no-matrix (None) records nothing."""
    src = _runner(tmp_path, "one", _result("local-linux-x86_64"))
    cells = load_matrix(SAMPLE_MATRIX)
    merge([src], tmp_path / "out", cells)
    merged = _cells(tmp_path / "out")
    assert set(merged) == {c.id for c in cells}
    gone = merged["docker-debian12-x86_64"]
    assert (gone.status, gone.culprit) == ("ERROR", "harness") and gone.started
    assert set(gone.suites) == {"uu"} and gone.suites["uu"].status == "ERROR"
    assert gone.info["provisioner"] == "docker" and gone.info["image"] == "debian:bookworm"
    merge([src], tmp_path / "bare", None)
    assert set(_cells(tmp_path / "bare")) == {"local-linux-x86_64"}


def test_history_joins_sources_and_keeps_the_last_runs(tmp_path: Path) -> None:
    """Each merge adds every cell's run to OUT/history; --history folders and
    each source's history join it; the last KEEP runs are kept, oldest first."""
    from testbed.report import history

    old = tmp_path / "old-history"
    old.mkdir()
    (old / "a.json").write_text(json.dumps(
        [{"started": f"2024-01-{d:02d}T00:00:00+00:00", "status": "PASS", "duration_s": d,
          "suites": {"uu": "PASS"}} for d in range(1, 25)]))
    src = _runner(tmp_path, "one", _result("a", "FAIL", "2025-01-01T00:00:00+00:00", "x"))
    merge([src], tmp_path / "out", None, history=[old])
    runs, problems = history.read(tmp_path / "out" / "history")
    assert problems == [] and len(runs["a"]) == history.KEEP
    assert [r.status for r in runs["a"][-2:]] == ["PASS", "FAIL"]
    assert runs["a"][0].started == "2024-01-06T00:00:00+00:00"  # the oldest went
    # merging again records nothing twice
    merge([src], tmp_path / "out", None, history=[old])
    assert history.read(tmp_path / "out" / "history")[0]["a"] == runs["a"]
    (old / "b.json").write_text("{not json")
    with pytest.raises(ReportError, match="b.json: unreadable history"):
        merge([src], tmp_path / "out", None, history=[old])
