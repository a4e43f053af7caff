"""`cse run`, `cse shell` and `cse report` as a user types them (a real
subprocess of `python -m testbed.cli`), always with a temporary --report-dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed import cli
from testbed.builds import FLAVOURS, ROOT

MATRIX = ROOT / "ci" / "matrix.yaml"


def _cse(*args: str, stdin: str = "", timeout_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
                          env={"COLUMNS": "250", "PATH": "/usr/bin:/bin",
                               "HOME": str(Path.home())})


def _row(out: str, cell: str) -> list[str]:
    """The final table's row of @cell, split on whitespace."""
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [cell]]
    assert len(rows) == 1, out
    return rows[0]


def _matrix(tmp_path: Path, cells: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("cells:\n" + cells)
    return path


def test_run_local_cell_and_skipped_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "rep"
    proc = _cse("run", "local-linux-x86_64", "ssh-debian12-arm64", "-j", "1",
                "--report-dir", str(rep))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "local-linux-x86_64: running uu" in out  # progress, one line per state (no tty)
    assert _row(out, "local-linux-x86_64")[1:3] == ["PASS", "PASS"]
    row = _row(out, "ssh-debian12-arm64")
    assert row[1] == "SKIP" and "no arm64 host is reachable" in " ".join(row)
    assert "reports in" in out and "matrix.json" in out
    summary = json.loads((rep / "matrix.json").read_text())["cells"]
    assert summary["local-linux-x86_64"]["status"] == "PASS"
    assert summary["ssh-debian12-arm64"]["status"] == "SKIP"

    # `cse list` reads the summary the run wrote
    monkeypatch.setenv("COLUMNS", "250")
    assert cli.main(["list", "local-linux-x86_64", "--report-dir", str(rep)]) == 0
    assert "PASS" in capsys.readouterr().out

    # `cse report` is an ordinary subcommand, with its own arguments
    proc = _cse("report", "--report-dir", str(rep), "--no-matrix")
    assert proc.returncode == 0, proc.stderr
    assert (rep / "matrix.html").is_file()


def test_run_exits_1_on_error_and_2_on_bad_usage(tmp_path: Path) -> None:
    m = _matrix(tmp_path, "  - {id: local-e32, provisioner: local, arch: i386, libc: glibc,\n"
                          "     backend: emulated, suites: [uu]}\n")
    proc = _cse("--matrix", str(m), "run", "-j", "1", "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 1
    row = _row(proc.stdout, "local-e32")
    assert row[1:3] == ["ERROR", "harness"] and "no build flavour for" in " ".join(row)
    proc = _cse("run", "no-such-cell", "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and "no cell matches 'no-such-cell'" in proc.stderr
    proc = _cse("run", "local-linux-x86_64", "--suite-timeout", "60", "--cell-timeout", "60",
                "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and "must be shorter" in proc.stderr
    proc = _cse("run", "-j", "0")
    assert proc.returncode == 2 and "must be at least 1" in proc.stderr


def test_a_cell_allowed_to_fail_is_shown_and_does_not_fail_the_run(tmp_path: Path) -> None:
    """The canary's way: its ERROR is reported as such, with the note, in the
    table and matrix.md, and the run still exits 0."""
    m = _matrix(tmp_path, "  - {id: local-e32, provisioner: local, arch: i386, libc: glibc,\n"
                          "     backend: emulated, suites: [uu], tags: [canary],\n"
                          "     allow_failure: true}\n")
    rep = tmp_path / "r"
    proc = _cse("--matrix", str(m), "run", "-j", "1", "--report-dir", str(rep))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = _row(proc.stdout, "local-e32")
    assert row[1:5] == ["ERROR", "(allowed", "to", "fail)"], row
    md = (rep / "matrix.md").read_text()
    assert "| `local-e32` | 💥 ERROR (allowed to fail) |" in md
    html = (rep / "matrix.html").read_text()
    assert 'data-note="allowed to fail"' in html


def _cse_in_a_terminal(*args: str, typed: str) -> subprocess.CompletedProcess:
    """`cse ARGS` with a pseudo-terminal as its stdin, on which @typed waits."""
    master, slave = os.openpty()
    try:
        os.write(master, typed.encode())
        return subprocess.run([sys.executable, "-m", "testbed.cli", *args], stdin=slave,
                              capture_output=True, text=True, timeout=600, cwd=ROOT,
                              env={"COLUMNS": "250", "PATH": "/usr/bin:/bin",
                                   "HOME": str(Path.home())})
    finally:
        os.close(slave)
        os.close(master)


def test_shell_in_a_local_cell(tmp_path: Path) -> None:
    proc = _cse_in_a_terminal("shell", "local-linux-x86_64", "--report-dir", str(tmp_path),
                              typed='echo "dir=$CSE_BUILDDIR"; exit 4\n')
    assert proc.returncode == 4, proc.stderr
    assert f"dir={FLAVOURS['linux'].builddir}" in proc.stdout
    assert "cse shell: preparing local-linux-x86_64" in proc.stderr
    assert "cse shell: opening a shell" in proc.stderr


def test_shell_refuses_skipped_or_ambiguous_cells(tmp_path: Path) -> None:
    proc = _cse("shell", "ssh-debian12-arm64", "--report-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "cannot run here: no arm64 host is reachable" in proc.stderr
    proc = _cse("shell", "local-*", "--report-dir", str(tmp_path))
    assert proc.returncode == 2 and "matches 13 cells" in proc.stderr
