"""ci/github-actions.yml, the workflow template a user copies to .github/workflows/.

GitHub itself does not run here, so the test checks the job graph and then
runs the shell of the steps that matter as GitHub would (bash --noprofile
--norc -eo pipefail, $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY files), with a
`cse` on PATH: the matrix step's output must be what fromJSON() and
strategy.matrix accept, and the report job must merge real cell reports laid
out as actions/download-artifact lays them out (one dir per artifact).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_report_data import save_results

from testbed import ci_jobs
from testbed.builds import ROOT
from testbed.matrix import github_matrix, load_matrix
from testbed.report import write_all
from testbed.results import CellResult, SuiteResult
from testbed.results import TestResult as Case

WORKFLOW = ROOT / "ci" / "github-actions.yml"
MATRIX = ROOT / "ci" / "matrix.yaml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _step(job: dict[str, Any], needle: str) -> dict[str, Any]:
    """The one step of @job whose `run` or `uses` contains @needle."""
    steps = [s for s in job["steps"] if needle in s.get("run", "") + s.get("uses", "")]
    assert len(steps) == 1, f"{len(steps)} steps contain {needle!r}"
    return steps[0]


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_triggers_and_shell(workflow: dict[str, Any]) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(on)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), step
            if "uses" in step:
                assert "@v" in step["uses"], f"unpinned action {step['uses']}"


def test_job_graph(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert set(jobs) == {"matrix", "cell", "report"}
    matrix, cell, report = jobs["matrix"], jobs["cell"], jobs["report"]

    emit = _step(matrix, "cse matrix --github")
    assert emit["id"] == "cells" and "$GITHUB_OUTPUT" in emit["run"]
    assert matrix["outputs"]["cells"] == "${{ steps.cells.outputs.cells }}"

    assert _needs(cell) == ["matrix"]
    assert cell["strategy"] == {"fail-fast": False,
                                "matrix": "${{ fromJSON(needs.matrix.outputs.cells) }}"}
    assert "if" not in cell, "cells with a skip_reason must run too (cse run records SKIP)"
    steps = [s.get("run", "") + s.get("uses", "") for s in cell["steps"]]
    deps = next(i for i, s in enumerate(steps) if "make deps" in s)
    run = next(i for i, s in enumerate(steps) if "cse run $CELLS" in s)
    assert deps < run and cell["steps"][run]["env"] == {"CELLS": "${{ matrix.cells }}"}
    upload = _step(cell, "actions/upload-artifact")
    assert upload["if"] == "always()" and upload["with"]["path"] == "report/"
    assert "${{ matrix.job }}" in upload["with"]["name"]

    assert _needs(report) == ["cell"] and report["if"] == "always()"
    download = _step(report, "actions/download-artifact")
    assert download["with"]["path"] == "artifacts"
    assert not download["with"].get("merge-multiple"), "each artifact needs its own dir"
    jobs_of = [e["job"] for e in ci_jobs.github(load_matrix(MATRIX), {})["include"]] + \
        [e["job"] for e in ci_jobs.github(load_matrix(MATRIX), {}, cap=3)["include"]]
    for job in jobs_of:  # every job's artifact is fetched, a cell's or a chunk's
        name = upload["with"]["name"].replace("${{ matrix.job }}", job)
        assert fnmatch.fnmatchcase(name, download["with"]["pattern"]), name
    merged = _step(report, "actions/upload-artifact")
    assert merged["if"] == "always()" and merged["with"]["path"] == "report/"
    assert not fnmatch.fnmatchcase(merged["with"]["name"], download["with"]["pattern"])
    assert "cse report merge" in _step(report, "cse report merge")["run"]
    assert _step(report, "cat report/matrix.md")["if"] == "always()"
    # the gate comes last, after the merged report is uploaded whatever it says
    names = [s.get("name") for s in report["steps"]]
    assert names.index("Compare with the baseline") > names.index("Upload the merged report")
    assert "actions" in workflow["permissions"], "gh run list needs actions: read"


# --- running the steps' shell ----------------------------------------------

@pytest.fixture(scope="module")
def cse_on_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin dir with `cse` as `make deps` installs it."""
    bindir = tmp_path_factory.mktemp("bin")
    cse = bindir / "cse"
    cse.write_text(f"""#!/bin/sh
exec "{sys.executable}" -m testbed.cli "$@"
""")
    cse.chmod(0o755)
    return bindir


def _run_step(step: dict[str, Any], cwd: Path, bindir: Path, scratch: Path,
              **env: str) -> subprocess.CompletedProcess[str]:
    """Run one step's `run` script as GitHub does with `shell: bash` (the
    script file goes to @scratch)."""
    script = step["run"]
    assert "${{" not in script, "expressions are GitHub's to expand; this test cannot"
    path = scratch / f"step-{len(list(scratch.glob('step-*')))}.sh"
    path.write_text(script)
    full_env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
                "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def _outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT's name=value lines (the form the step writes)."""
    lines = path.read_text().splitlines()
    assert all("=" in ln and "<<" not in ln for ln in lines), lines
    return dict(ln.split("=", 1) for ln in lines)


def test_matrix_step_output_feeds_fromjson(workflow: dict[str, Any], cse_on_path: Path,
                                           tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    out.touch()
    proc = _run_step(_step(workflow["jobs"]["matrix"], "cse matrix --github"), ROOT,
                     cse_on_path, tmp_path, GITHUB_OUTPUT=str(out))
    assert proc.returncode == 0, proc.stderr
    outputs = _outputs(out)
    assert set(outputs) == {"cells"}
    value = json.loads(outputs["cells"])  # what fromJSON() parses
    # what strategy.matrix accepts: include entries of scalars, at most 256 jobs
    assert set(value) == {"include"} and 0 < len(value["include"]) <= 256
    assert all(isinstance(v, str) for e in value["include"] for v in e.values())
    assert value == ci_jobs.github(load_matrix(MATRIX), {})
    assert [e["cells"] for e in value["include"]] == [c.id for c in load_matrix(MATRIX)]
    for entry, single in zip(value["include"], github_matrix(load_matrix(MATRIX))["include"],
                             strict=True):
        assert entry == {"job": single["cell"], "cells": single["cell"], **single}


def _artifact(artifacts: Path, result: CellResult) -> None:
    """What one cell job uploads: its report/ after `cse run CELL`."""
    report = artifacts / f"cell-{result.cell}"
    report.mkdir(parents=True)
    save_results(report, [result])
    write_all(report)


def test_report_job_merges_cell_artifacts(workflow: dict[str, Any], cse_on_path: Path,
                                          tmp_path: Path) -> None:
    work = tmp_path / "workspace"
    artifacts = work / "artifacts"
    ok = CellResult("local-linux-x86_64", "PASS", duration_s=4.0,
                    started="2024-05-01T10:00:00+00:00",
                    suites={"uu": SuiteResult("uu", "PASS", 3.0, [Case("echo", "PASS")],
                                              log="cells/local-linux-x86_64/uu.log")})
    bad = CellResult("qemu-debian12-6.1-x86_64", "FAIL", culprit="code", reason="uk failed",
                     duration_s=90.0, started="2024-05-01T10:01:00+00:00",
                     suites={"uk": SuiteResult("uk", "FAIL", 80.0,
                                               [Case("echo", "FAIL", "wrong output")],
                                               log="cells/qemu-debian12-6.1-x86_64/uk.log")})
    _artifact(artifacts, ok)
    _artifact(artifacts, bad)
    summary = tmp_path / "step_summary"
    summary.touch()
    report = workflow["jobs"]["report"]

    proc = _run_step(_step(report, "cse report merge"), work, cse_on_path, tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _run_step(_step(report, "cat report/matrix.md"), work, cse_on_path, tmp_path,
                     GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0, proc.stderr

    merged = work / "report"
    data = json.loads((merged / "matrix.json").read_text())
    cells = {c: CellResult.from_json(r) for c, r in data["cells"].items()}
    assert (cells.pop(ok.cell), cells.pop(bad.cell)) == (ok, bad)
    # every other cell of the matrix: no runner reported it, which is an error
    assert set(cells) == {c.id for c in load_matrix(MATRIX)} - {ok.cell, bad.cell}
    assert {(r.status, r.culprit) for r in cells.values()} == {("ERROR", "harness")}
    assert "no runner reported this cell" in next(iter(cells.values())).reason
    kcidb = json.loads((merged / "kcidb.json").read_text())
    assert len(kcidb["builds"]) == len(data["cells"])
    assert (merged / "cells" / ok.cell / "uu.log").is_file()
    assert (merged / "cells" / bad.cell / "uk.log").is_file()
    assert sorted(p.name for p in (merged / "junit").iterdir()) == \
        sorted(f"{c}.xml" for c in data["cells"])
    text = summary.read_text()
    assert text == (merged / "matrix.md").read_text()
    for c in load_matrix(MATRIX):  # every cell of the matrix has its row
        assert f"| `{c.id}` |" in text
    assert f"| `{ok.cell}` | ✅ PASS |" in text and f"| `{bad.cell}` | ❌ FAIL |" in text
    assert "- uk/echo FAIL: wrong output" in text


def test_report_job_without_artifacts(workflow: dict[str, Any], cse_on_path: Path,
                                      tmp_path: Path) -> None:
    work = tmp_path / "workspace"
    work.mkdir()
    summary = tmp_path / "step_summary"
    summary.touch()
    report = workflow["jobs"]["report"]
    proc = _run_step(_step(report, "cse report merge"), work, cse_on_path, tmp_path)
    assert proc.returncode == 1 and "no cell job uploaded a report" in proc.stderr
    proc = _run_step(_step(report, "cat report/matrix.md"), work, cse_on_path, tmp_path,
                     GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0 and "No report was rendered" in summary.read_text()


def _gh(bindir: Path, baseline: Path | None) -> Path:
    """A `gh` standing in for GitHub's API (which does not run here): `run
    list` names run 42 when there is a @baseline, `run download --dir D`
    copies @baseline to D; every call is logged in bindir/gh.log."""
    bindir.mkdir(parents=True, exist_ok=True)
    gh = bindir / "gh"
    listed = "echo 42" if baseline else "true"
    gh.write_text(f"""#!/bin/bash
echo "$*" >> {bindir}/gh.log
if [ "$1 $2" = "run list" ]; then {listed}; exit 0; fi
if [ "$1 $2" = "run download" ]; then
  while [ $# -gt 0 ]; do [ "$1" = --dir ] && dir=$2; shift; done
  mkdir -p "$dir" && cp -r {baseline}/. "$dir"/
fi
""")
    gh.chmod(0o755)
    return bindir


def test_report_job_gates_on_the_baseline(workflow: dict[str, Any], cse_on_path: Path,
                                          tmp_path: Path) -> None:
    """The default branch's last report is fetched, its history joins the
    merged one, and `cse compare` fails the job on the new failure."""
    work = tmp_path / "workspace"
    uk = "cells/qemu-debian12-6.1-x86_64/uk.log"
    was = CellResult("qemu-debian12-6.1-x86_64", "PASS", duration_s=80.0,
                     started="2024-04-30T10:00:00+00:00",
                     suites={"uk": SuiteResult("uk", "PASS", 70.0, [Case("echo", "PASS")], log=uk)})
    now = CellResult("qemu-debian12-6.1-x86_64", "FAIL", culprit="code", reason="uk failed",
                     duration_s=90.0, started="2024-05-01T10:01:00+00:00",
                     suites={"uk": SuiteResult("uk", "FAIL", 80.0,
                                               [Case("echo", "FAIL", "wrong output")], log=uk)})
    # the baseline is what the default branch's report job uploaded: its
    # cells' artifacts merged (every matrix cell no job reported is in it,
    # as ERROR, as it will be in this run's: still failing, never new)
    _artifact(tmp_path / "last-main", was)
    baseline = tmp_path / "matrix-report"
    merged = subprocess.run([str(cse_on_path / "cse"), "report", "merge",
                             str(tmp_path / "last-main" / f"cell-{was.cell}"), "-o", str(baseline)],
                            capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    _artifact(work / "artifacts", now)
    bindir = _gh(tmp_path / "gh", baseline)
    path = f"{bindir}:{cse_on_path}"
    env = {"GH_TOKEN": "t", "BASE_BRANCH": "main", "GITHUB_REPOSITORY": "o/r",
           "WORKFLOW_FILE": "o/r/.github/workflows/matrix.yml@refs/heads/main"}
    report = workflow["jobs"]["report"]
    summary = tmp_path / "step_summary"
    summary.touch()

    proc = _run_step(_step(report, "gh run list"), work, Path(path), tmp_path, **env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "baseline" / "matrix.json").is_file()
    log = (bindir / "gh.log").read_text()
    assert "run list --repo o/r --workflow matrix.yml --branch main --status success" in log
    assert "run download 42 --repo o/r --name matrix-report --dir baseline" in log

    assert _run_step(_step(report, "cse report merge"), work, cse_on_path, tmp_path) \
        .returncode == 0
    runs = json.loads((work / "report" / "history" / f"{now.cell}.json").read_text())
    assert [r["status"] for r in runs] == ["PASS", "FAIL"], "the baseline's run kept"

    proc = _run_step(_step(report, "cse compare"), work, cse_on_path, tmp_path,
                     GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = summary.read_text()
    assert text.startswith("## cse compare\n\n❌ **")
    assert f"| `{now.cell}` | `uk.echo` | PASS | FAIL | wrong output |" in text


def test_report_job_without_a_baseline(workflow: dict[str, Any], cse_on_path: Path,
                                       tmp_path: Path) -> None:
    work = tmp_path / "workspace"
    work.mkdir()
    bindir = _gh(tmp_path / "gh", None)
    report = workflow["jobs"]["report"]
    proc = _run_step(_step(report, "gh run list"), work, Path(f"{bindir}:{cse_on_path}"),
                     tmp_path, GH_TOKEN="t", BASE_BRANCH="main", GITHUB_REPOSITORY="o/r",
                     WORKFLOW_FILE="o/r/.github/workflows/matrix.yml@refs/heads/main")
    assert proc.returncode == 0 and "no successful run on main yet" in proc.stdout
    summary = tmp_path / "step_summary"
    summary.touch()
    proc = _run_step(_step(report, "cse compare"), work, cse_on_path, tmp_path,
                     GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0 and "No baseline report" in summary.read_text()
