"""Many runners: `cse run --shard I/N` and `--failed` (real local runs),
the job chunks of `cse matrix --github/--gitlab` under each system's cap,
and ci/gitlab-ci.yml with the child pipeline `cse matrix --gitlab` writes
(GitLab does not run here: its job graph is checked and the report job's
shell is run as a runner would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testbed import ci_jobs, shards
from testbed.builds import ROOT
from testbed.matrix import Cell, load_matrix

MATRIX = ROOT / "ci" / "matrix.yaml"
CELLS = load_matrix(MATRIX)


def _cells(n: int) -> list[Cell]:
    return [Cell(f"c{i:03d}", "local", "x86_64", "glibc", "linux", ("uu",)) for i in range(n)]


def test_a_split_is_balanced_by_duration_and_deterministic() -> None:
    cells = _cells(6)
    known = {"c000": 100.0, "c001": 60.0, "c002": 40.0, "c003": 30.0, "c004": 20.0}
    split = shards.split(cells, 2, known)
    # longest first to the lighter shard; c005 unknown counts as the median (40)
    assert [[c.id for c in s] for s in split] == [["c000", "c005"],
                                                  ["c001", "c002", "c003", "c004"]]
    assert [sum(known.get(c.id, 40.0) for c in s) for s in split] == [140.0, 150.0]
    assert shards.split(list(reversed(cells)), 2, known) == \
        [list(reversed(s)) for s in split], "the same shards, in the given order"
    assert sorted(c.id for s in shards.split(cells, 4, {}) for c in s) == \
        [c.id for c in cells], "every cell in exactly one shard"
    assert shards.split(cells[:1], 3, {})[1:] == [[], []]


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_bad_shards(bad: str) -> None:
    with pytest.raises(shards.ShardError, match="use I/N"):
        shards.parse_shard(bad)


def test_chunks_stay_under_the_cap() -> None:
    many = _cells(601)
    gh = ci_jobs.github(many, {})["include"]
    assert len(gh) == ci_jobs.GITHUB_CAP == 256
    assert sorted(c for e in gh for c in e["cells"].split()) == [c.id for c in many]
    assert gh[0]["job"] == "chunk-1-of-256" and set(gh[0]) == {"job", "cells"}
    gl = ci_jobs.gitlab(many, {})["cell"]["parallel"]["matrix"]
    assert len(gl) == ci_jobs.GITLAB_CAP == 200
    assert sorted(c for e in gl for c in e["CSE_CELLS"].split()) == [c.id for c in many]
    one = ci_jobs.github(CELLS, {})["include"]
    assert [e["job"] for e in one] == [c.id for c in CELLS] and one[0]["provisioner"] == "local"


def _cse(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home()), "PYTHONPATH": str(ROOT)})


def test_cse_matrix_cap_and_formats() -> None:
    proc = _cse("matrix", "--github", "--cap", "4", "local-*")
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1
    jobs = json.loads(proc.stdout)["include"]
    assert [j["job"] for j in jobs] == [f"chunk-{i}-of-4" for i in range(1, 5)]
    local = [c.id for c in CELLS if c.id.startswith("local-")]
    assert sorted(c for j in jobs for c in j["cells"].split()) == sorted(local)
    proc = _cse("matrix", "--gitlab")
    child = yaml.safe_load(proc.stdout)
    assert [e["CSE_CELLS"] for e in child["cell"]["parallel"]["matrix"]] == \
        [c.id for c in CELLS]
    assert _cse("matrix").returncode == 2 and _cse("matrix", "--github", "--gitlab") \
        .returncode == 2


def _matrix(tmp: Path) -> Path:
    """Three cells that run in seconds: two pass, one ERRORs (no flavour)."""
    m = tmp / "m.yaml"
    m.write_text("cells:\n"
                 "  - {id: local-linux-x86_64, provisioner: local, arch: x86_64, libc: glibc,"
                 " backend: linux, suites: [uu]}\n"
                 "  - {id: local-emulated-x86_64, provisioner: local, arch: x86_64,"
                 " libc: glibc, backend: emulated, suites: [uu]}\n"
                 "  - {id: local-e32, provisioner: local, arch: i386, libc: glibc,"
                 " backend: emulated, suites: [uu]}\n")
    return m


def _ran(out: str) -> list[str]:
    return [ln.split()[0] for ln in out.splitlines()
            if ln.split()[:1] and ln.split()[0].startswith("local-") and ":" not in ln.split()[0]]


def test_shards_and_failed_on_real_runs(tmp_path: Path) -> None:
    m, rep = _matrix(tmp_path), tmp_path / "r"
    base = ["--matrix", str(m), "run", "-j", "1", "--report-dir", str(rep)]
    proc = _cse(*base, "--failed")
    assert proc.returncode == 2 and "no last results" in proc.stderr
    first = _cse(*base, "--shard", "1/2")
    second = _cse(*base, "--shard", "2/2")
    ran = _ran(first.stdout) + _ran(second.stdout)
    assert sorted(ran) == ["local-e32", "local-emulated-x86_64", "local-linux-x86_64"], \
        first.stdout + second.stdout
    # the first shard wrote durations into the report dir: shard 1 is still shard 1
    assert _ran(_cse(*base, "--shard", "1/2").stdout) == _ran(first.stdout)
    # balanced by the durations of a file every shard reads alike
    durations = tmp_path / "last.json"
    durations.write_text(json.dumps({"version": 2, "cells": {
        "local-linux-x86_64": {"duration_s": 100}, "local-emulated-x86_64": {"duration_s": 60},
        "local-e32": {"duration_s": 50}}}))
    heavy = _cse(*base, "--shard", "1/2", "--durations", str(durations))
    assert _ran(heavy.stdout) == ["local-linux-x86_64"], heavy.stdout
    assert _cse(*base, "--shard", "3/2").returncode == 2
    # the last results are all three cells': --failed runs only the one that ERRORed
    proc = _cse(*base, "--failed")
    assert proc.returncode == 1 and _ran(proc.stdout) == ["local-e32"], proc.stdout
    data = json.loads((rep / "matrix.json").read_text())
    assert {c: r["status"] for c, r in data["cells"].items()} == \
        {"local-linux-x86_64": "PASS", "local-emulated-x86_64": "PASS", "local-e32": "ERROR"}


# --- GitLab ---------------------------------------------------------------------

def test_gitlab_template_triggers_the_child_pipeline() -> None:
    parent = yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())
    assert parent["stages"] == ["matrix", "cells"]
    assert any("cse matrix --gitlab > cells.yml" in line for line in parent["matrix"]["script"])
    assert parent["matrix"]["artifacts"]["paths"] == ["cells.yml"]
    assert parent["cells"]["trigger"] == {"include": [{"artifact": "cells.yml",
                                                       "job": "matrix"}],
                                          "strategy": "depend"}
    child = ci_jobs.gitlab(CELLS, {})
    assert child["stages"] == ["cells", "report"]
    assert child["report"]["when"] == "always" and child["report"]["stage"] == "report"
    assert child["cell"]["artifacts"]["when"] == "always"
    assert child["cell"]["script"] == \
        ['.venv/bin/cse run $CSE_CELLS --report-dir "reports/$CI_JOB_ID"']


def test_gitlab_report_job_merges_and_gates(tmp_path: Path) -> None:
    """The report job's script, as a runner runs it: each cell job's report
    in reports/<job id>/, no baseline reachable (curl fails)."""
    work = tmp_path / "job"
    from test_report_data import save_results

    from testbed.report import write_all
    from testbed.results import CellResult, SuiteResult
    for i, cid in enumerate(("local-linux-x86_64", "local-emulated-x86_64")):
        r = CellResult(cid, "PASS", duration_s=3.0, started=f"2024-05-01T10:0{i}:00+00:00",
                       suites={"uu": SuiteResult("uu", "PASS", 2.0)})
        d = work / "reports" / str(100 + i)
        d.mkdir(parents=True)
        save_results(d, [r])
        write_all(d)
    (work / ".venv" / "bin").mkdir(parents=True)
    cse = work / ".venv" / "bin" / "cse"
    cse.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m testbed.cli "$@"\n')
    cse.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "curl").write_text("#!/bin/sh\nexit 22\n")  # the API is out of reach here
    (fake / "curl").chmod(0o755)
    script = ci_jobs.gitlab(CELLS, {})["report"]["script"][0]
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=work, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}",
                               "PYTHONPATH": str(ROOT), "CI_DEFAULT_BRANCH": "main",
                               "CI_JOB_TOKEN": "t", "CI_API_V4_URL": "https://gitlab.invalid",
                               "CI_PROJECT_ID": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no baseline report on main yet" in proc.stdout
    data = json.loads((work / "report" / "matrix.json").read_text())
    assert data["cells"]["local-linux-x86_64"]["status"] == "PASS"
    assert data["cells"]["docker-debian12-x86_64"]["status"] == "ERROR"  # no job reported it
