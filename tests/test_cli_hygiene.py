"""The `cse` command as a shell user meets it: without a terminal, with its
output piped into `head` or a file, with COLUMNS set, with nothing to report
(a real subprocess of `python -m testbed.cli`, stdin never a terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.builds import ROOT

ENV = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}


def _cse(*args: str, env: dict[str, str] | None = None,
         stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "testbed.cli", *args], cwd=ROOT,
                          stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=600, env={**ENV, **(env or {})})


def test_shell_without_a_terminal_says_so(tmp_path: Path) -> None:
    proc = _cse("shell", "local-linux-x86_64", "--report-dir", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "cse shell: needs a terminal" in proc.stderr
    assert "preparing" not in proc.stderr  # refused before setting anything up


@pytest.mark.parametrize("args", [("list",), ("matrix", "--github"),
                                  ("list", "--help")])
def test_a_closed_pipe_ends_quietly(args: tuple[str, ...]) -> None:
    """`cse ... | head`: the reader is gone before cse writes (the worst
    case); cse stops without a traceback, as a tool killed by SIGPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = _cse(*args, stdout=w)
    finally:
        os.close(w)
    assert proc.stderr == ""
    assert proc.returncode == 141


def _widest(out: str) -> int:
    return max(len(line) for line in out.splitlines())


def test_list_piped_respects_columns() -> None:
    proc = _cse("list", env={"COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert _widest(proc.stdout) <= 100, proc.stdout
    assert "local-linux-x86_64" in proc.stdout


def test_list_in_a_log_keeps_one_line_per_cell() -> None:
    """No terminal anywhere and no COLUMNS (a CI log): wide enough that every
    cell's row stays on one line."""
    proc = _cse("list")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "local-linux-x86_64" in line]
    assert len(rows) == 1, proc.stdout


def test_report_without_results_says_so(tmp_path: Path) -> None:
    (tmp_path / "rep").mkdir()
    proc = _cse("report", "--report-dir", str(tmp_path / "rep"), "--no-matrix")
    assert proc.returncode == 2
    assert "no results" in proc.stderr and "cse run" in proc.stderr
    proc = _cse("report", "--report-dir", str(tmp_path / "none"), "--no-matrix")
    assert proc.returncode == 2 and "no such report directory" in proc.stderr


def test_one_parser_for_every_subcommand(tmp_path: Path) -> None:
    """`cse report` is an ordinary subcommand of the one parser: listed in
    `cse --help`, with its own `merge`, and it takes the global --matrix."""
    proc = _cse("--help")
    assert proc.returncode == 0
    for command in ("list", "matrix", "run", "shell", "report"):
        assert f"    {command} " in proc.stdout, proc.stdout
    proc = _cse("report", "merge", "--help")
    assert proc.returncode == 0 and "DIR" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("cells: []\n")
    proc = _cse("--matrix", str(bad), "report", "--report-dir", str(tmp_path))
    assert proc.returncode == 2 and f"{bad}: 'cells' must be a non-empty list" in proc.stderr
    proc = _cse("report", "--bogus")
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr
