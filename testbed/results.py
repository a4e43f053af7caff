"""What a run of the matrix produced: per cell, per suite, per test.

Each cell's result is saved on its own as report/cells/<cell>/result.json, next
to that cell's logs, so rerunning one cell rewrites only its own file; the
reports (matrix.json, JUnit, matrix.md, matrix.html) are rendered from all of
them.  matrix.json is

    {"version": 2, "generated": "<iso time>",
     "cells": {"<cell id>": <CellResult.to_json()>, ...}, ...}

(version 1, without KNOWN, FLAKY and attempts, is still read.)

Statuses are upper case.  A cell's status is the worst of its suites, in the
order FAIL > ERROR > KNOWN > FLAKY > PASS > SKIP: a FAIL anywhere is a code
failure and must not hide behind an infrastructure ERROR elsewhere in the
cell, and a failure excused (KNOWN: a known issue matches it; FLAKY: it
passed when retried) still shows above a clean PASS.  Which failures fail
a run is testbed/excuses.py's to say.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["PASS", "FAIL", "ERROR", "SKIP", "KNOWN", "FLAKY"]
#: who is to blame for a cell that did not pass: the code under test, a tool
#: (docker, QEMU, ssh, debootstrap, the compiler), or the testbed itself
Culprit = Literal["code", "tool", "harness"]
STATUSES: tuple[Status, ...] = ("FAIL", "ERROR", "KNOWN", "FLAKY", "PASS", "SKIP")  # worst first
#: the statuses of something that failed, excused (KNOWN) or not
FAILED: tuple[Status, ...] = ("FAIL", "ERROR", "KNOWN")
FORMAT_VERSION = 2
#: the matrix.json versions this testbed reads (1: before KNOWN and FLAKY)
READABLE_VERSIONS = (1, 2)


def notes(info: dict[str, str]) -> list[str]:
    """What every report says beside a cell's status, from its result's info:
    a cell that was only built (its code cannot run on this machine), and a
    cell allowed to fail (the canary), whose FAIL does not fail the run."""
    out = []
    if info.get("build_only"):
        out.append("build only")
    if info.get("allow_failure") == "true":
        out.append("allowed to fail")
    return out


def worst(statuses: list[Status], empty: Status = "SKIP") -> Status:
    """The status that wins: FAIL > ERROR > PASS > SKIP; @empty if none."""
    return min(statuses, key=STATUSES.index) if statuses else empty


@dataclass
class TestResult:
    """One KTAP case (a conformance scenario, or a step such as 'build')."""

    name: str
    status: Status
    reason: str = ""        # the skip reason, or a one-line failure summary
    diagnostics: str = ""   # the case's KTAP diagnostics or an output tail
    attempts: int = 1       # runs it took (FLAKY: failed, then passed on a retry)
    known_issue: str = ""   # KNOWN: the id of the known issue that matched it


@dataclass
class SuiteResult:
    """One suite (uu, uk, ku, kk) in one cell."""

    name: str
    status: Status
    duration_s: float = 0.0
    tests: list[TestResult] = field(default_factory=list)
    error: str = ""         # why the suite did not complete, if it did not
    log: str = ""           # path of the suite's own output, relative to report/
    attempts: int = 1       # runs of the suite (retries and --repeat included)
    known_issue: str = ""   # KNOWN: the known issue that matched its failure


@dataclass
class CellResult:
    """One cell of the matrix: its single status, and who is to blame."""

    cell: str
    status: Status
    culprit: str | None = None  # "code", "tool" or "harness"; None when PASS/SKIP
    reason: str = ""            # skip reason or the headline of the failure
    duration_s: float = 0.0
    started: str = ""           # ISO 8601, UTC
    info: dict[str, str] = field(default_factory=dict)   # provisioner, image, kernel, ...
    suites: dict[str, SuiteResult] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)   # name -> path relative to report/

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        suites = {
            name: SuiteResult(**{**s, "tests": [TestResult(**t) for t in s.get("tests", [])]})
            for name, s in data.get("suites", {}).items()
        }
        return cls(**{**data, "suites": suites})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)  # a killed run never leaves half a file

    @classmethod
    def load(cls, path: Path) -> CellResult:
        return cls.from_json(json.loads(path.read_text()))
