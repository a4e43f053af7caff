"""Run the C test binaries (each prints KTAP) and collect their results."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed import ktap
from testbed.builds import Flavour

#: suite name -> binary, relative to a build dir
SUITES: dict[str, str] = {
    "conformance": "tests/cse-conformance",
    "core": "tests/unit/test-core",
    "hostile": "tests/unit/test-hostile",
    "hostile-server": "tests/unit/test-hostile-server",
    "leaks": "tests/unit/test-leaks",
    "contract": "tests/unit/test-contract",
}

#: A whole binary may not run longer than this (each case has its own timeout too).
SUITE_TIMEOUT_S = 900


@dataclass
class SuiteRun:
    """One execution of one suite binary in one flavour."""

    flavour: str
    suite: str
    returncode: int | None  # None: killed at SUITE_TIMEOUT_S
    run: ktap.KtapRun
    stderr: str
    stdout: str = ""


def binary(flavour: Flavour, suite: str) -> Path:
    return flavour.builddir / SUITES[suite]


def list_cases(flavour: Flavour, suite: str) -> list[str]:
    """Case names, from the binary's own --list (under its emulator, if any)."""
    argv, env = flavour.command(binary(flavour, suite), "--list")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True,
                         env=os.environ | env)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def run_suite(flavour: Flavour, suite: str, cases: list[str] | None = None) -> SuiteRun:
    """Run a suite binary (all cases, or just @cases) and parse its KTAP."""
    cmd, extra = flavour.command(binary(flavour, suite), *(cases or []))
    env = os.environ | extra
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=SUITE_TIMEOUT_S)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc = None
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    return SuiteRun(flavour.name, suite, rc, ktap.parse(out), err, out)
