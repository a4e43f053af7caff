"""`cse export --kcidb FILE` on a real run, validated against KernelCI's
published KCIDB schema as the kcidb-io package (PyPI, installed by `make
deps`) carries it.

The run: local-linux-x86_64 with an injected failure (zero_length fails;
its conformance client swapped for a small program, as in
tests/test_runner.py) that a known issue matches, and local-e32, which
ERRORs for real in the testbed (no 32-bit emulated flavour: culprit
harness).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kcidb_io import schema

from testbed import cellscript
from testbed.builds import FLAVOURS, ROOT
from testbed.known_issues import load_known_issues
from testbed.matrix import Cell, load_matrix
from testbed.provision.base import CommandResult
from testbed.provision.local.provisioner import LocalProvisioner
from testbed.report import write_all
from testbed.runner import RunOptions, run_cell

LINUX = next(c for c in load_matrix(ROOT / "ci/matrix.yaml") if c.id == "local-linux-x86_64")
E32 = Cell("local-e32", "local", "i386", "glibc", "emulated", ("uu",))
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)
KNOWN = """\
known_issues:
  - id: zero-length
    reason: the zero-length path is being reworked
    link: https://tracker.example/CSE-9
    culprit: code
    cell: local-linux-*
    tests: [uu.zero_length]
"""


class _Failing(LocalProvisioner):
    program: Path

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        return super().run(script.replace(CONFORMANCE, str(self.program)), timeout_s=timeout_s)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("kcidb")
    prog = tmp / "suite.sh"
    prog.write_text("#!/bin/sh\necho 'KTAP version 1'; echo 1..2; echo 'ok 1 echo'\n"
                    "echo '# expected 0, got 4'; echo 'not ok 2 zero_length'; exit 1\n")
    prog.chmod(0o755)
    _Failing.program = prog
    report = tmp / "report"
    opts = RunOptions(report_dir=report, token="t")
    run_cell(LINUX, opts, _Failing)
    run_cell(E32, opts)
    (tmp / "known.yaml").write_text(KNOWN)
    write_all(report, issues=load_known_issues(tmp / "known.yaml"))
    out = tmp / "kcidb.json"
    proc = subprocess.run([sys.executable, "-m", "testbed.cli", "export", "--kcidb", str(out),
                           "--report-dir", str(report), "--known-issues", str(tmp / "known.yaml"),
                           "--log-url", "https://ci.example/runs/7/report"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "2 builds" in proc.stdout and "1 issues, 1 incidents" in proc.stdout
    return json.loads(out.read_text())


def test_the_document_is_valid_kcidb(exported: dict) -> None:
    schema.LATEST.validate(exported)
    assert exported["version"]["major"] == schema.LATEST.major


def test_checkout_and_builds(exported: dict) -> None:
    (co,) = exported["checkouts"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert (co["id"], co["git_commit_hash"], co["origin"]) == (f"cse:{head}", head, "cse")
    builds = {b["misc"]["cell"]: b for b in exported["builds"]}
    linux = builds["local-linux-x86_64"]
    assert (linux["architecture"], linux["compiler"], linux["status"]) == ("x86_64", "gcc", "PASS")
    assert linux["log_url"] == \
        "https://ci.example/runs/7/report/cells/local-linux-x86_64/build.log"
    assert builds["local-e32"]["architecture"] == "i386"


def test_tests_statuses_paths_and_environment(exported: dict) -> None:
    tests = {(t["environment"]["misc"]["cell"], t["path"]): t for t in exported["tests"]}
    known = tests[("local-linux-x86_64", "cse.uu.zero_length")]
    assert (known["status"], known["misc"]["cse_status"]) == ("FAIL", "KNOWN")
    assert known["comment"] == "expected 0, got 4"
    assert known["log_url"].endswith("/cells/local-linux-x86_64/uu.log")
    assert tests[("local-linux-x86_64", "cse.uu.echo")]["status"] == "PASS"
    # the testbed's own error: the test did not run because of the harness
    harness = tests[("local-e32", "cse.uu")]
    assert (harness["status"], harness["misc"]["culprit"]) == ("MISS", "harness")
    env = known["environment"]
    assert env["comment"] == "local-linux-x86_64: local kernel host"
    assert env["misc"]["libc"] == "glibc" and env["misc"]["backend"] == "linux"


def test_issues_and_incidents_from_the_known_issues(exported: dict) -> None:
    (issue,) = exported["issues"]
    assert issue == {"id": "cse:zero-length", "version": 1, "origin": "cse",
                     "report_subject": "the zero-length path is being reworked",
                     "comment": "the zero-length path is being reworked",
                     "culprit": {"code": True},
                     "misc": {"intermittent": False, "state": "active", "expires": ""},
                     "report_url": "https://tracker.example/CSE-9"}
    (incident,) = exported["incidents"]
    assert incident["issue_id"] == "cse:zero-length" and incident["present"] is True
    assert incident["test_id"].endswith(":local-linux-x86_64:cse.uu.zero_length")


def test_the_schema_check_is_real(exported: dict) -> None:
    """What the export must never write: our own statuses, relative URLs."""
    for field, value in (("status", "KNOWN"), ("log_url", "cells/x/uu.log")):
        bad = json.loads(json.dumps(exported))
        bad["tests"][0][field] = value
        with pytest.raises(Exception, match="is not"):
            schema.LATEST.validate(bad)
