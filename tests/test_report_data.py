"""Shared data for the report tests (no tests of its own): real CellResult
objects saved as a runner saves them, covering every status and shape a
report must render.

The sample report dir, against tests/report_matrix.yaml (SAMPLE_MATRIX):

    local-linux-x86_64         PASS   uu: 3 tests pass
    local-emulated-x86_64      FAIL   uu: 1 of 3 fails (code); HTML and ANSI in its text
    local-linux-i386           ERROR  uu: killed after one passing test (harness)
    qemu-debian12-6.1-x86_64   ERROR  no suite ran: the VM did not boot (tool)
    qemu-debian12-6.12-x86_64  FAIL   kk pass, uk 1 of 2 fails, ku SKIP without tests;
                                      a log the result names but the report lacks
    docker-debian11-x86_64     SKIP   no suites, a skip reason
    extra-not-in-matrix        PASS   a result for a cell the matrix does not list
    (4 more matrix cells)      NOT RUN
"""

from __future__ import annotations

from pathlib import Path

from testbed.results import CellResult, SuiteResult
from testbed.results import TestResult as Case  # not "Test*": pytest would collect it

T0 = "2024-05-01T10:00:00+00:00"
SAMPLE_MATRIX = Path(__file__).parent / "report_matrix.yaml"
#: status of every row of the sample report, in the order the reports show them
SAMPLE_STATUS = {
    "local-linux-x86_64": "PASS",
    "local-emulated-x86_64": "FAIL",
    "local-linux-i386": "ERROR",
    "docker-debian11-x86_64": "SKIP",
    "docker-debian12-x86_64": "NOT RUN",
    "docker-debian13-x86_64": "NOT RUN",
    "qemu-debian12-6.1-x86_64": "ERROR",
    "qemu-debian12-6.12-x86_64": "FAIL",
    "ssh-debian12-arm64": "NOT RUN",
    "vagrant-freebsd14-x86_64": "NOT RUN",
    "extra-not-in-matrix": "PASS",
}
#: the failing test's reason and diagnostics: markup and a terminal escape
EVIL_REASON = "expected <script>alert(1)</script> | got 'x' & more"
EVIL_DIAG = "# got \x1b[31mred\x1b[0m and a NUL \x00 <b>bold?</b>"


def _tests(*spec: tuple[str, str]) -> list[Case]:
    return [Case(name, status) for name, status in spec]


def sample_results() -> list[CellResult]:
    """The results of the sample report (see the module docstring)."""
    passing = _tests(("echo", "PASS"), ("callback_order", "PASS"), ("zero_length", "PASS"))
    return [
        CellResult("local-linux-x86_64", "PASS", duration_s=12.3, started=T0,
                   info={"provisioner": "local"},
                   suites={"uu": SuiteResult("uu", "PASS", 12.0, passing,
                                             log="cells/local-linux-x86_64/uu.log")},
                   logs={"build": "cells/local-linux-x86_64/build.log"}),
        CellResult("local-emulated-x86_64", "FAIL", culprit="code",
                   reason="1 of 3 tests failed", duration_s=75.0, started=T0,
                   suites={"uu": SuiteResult("uu", "FAIL", 74.0, [
                       Case("echo", "PASS"),
                       Case("callback_order", "FAIL", EVIL_REASON, EVIL_DIAG),
                       Case("zero_length", "PASS")],
                       log="cells/local-emulated-x86_64/uu.log")}),
        CellResult("local-linux-i386", "ERROR", culprit="harness",
                   reason="uu: test binary killed after 60 s", duration_s=61.0, started=T0,
                   suites={"uu": SuiteResult("uu", "ERROR", 60.0, _tests(("echo", "PASS")),
                                             error="test binary killed after 60 s",
                                             log="cells/local-linux-i386/uu.log")}),
        CellResult("qemu-debian12-6.1-x86_64", "ERROR", culprit="tool",
                   reason="the VM did not boot within 120 s", duration_s=120.5, started=T0,
                   logs={"console": "cells/qemu-debian12-6.1-x86_64/console.log"}),
        CellResult("qemu-debian12-6.12-x86_64", "FAIL", culprit="code",
                   reason="uk: 1 of 2 tests failed", duration_s=3725.0, started=T0,
                   suites={
                       "kk": SuiteResult("kk", "PASS", 20.0,
                                         _tests(("echo", "PASS"), ("zero_length", "PASS")),
                                         log="cells/qemu-debian12-6.12-x86_64/kk.log"),
                       "uk": SuiteResult("uk", "FAIL", 30.0, [
                           Case("echo", "PASS"),
                           Case("server_death", "FAIL", "client hung", "# waited 10 s")],
                           log="cells/qemu-debian12-6.12-x86_64/uk.log"),
                       "ku": SuiteResult("ku", "SKIP", 0.0, [],
                                         error="kernel clients of user servers: not built"),
                   },
                   logs={"console": "cells/qemu-debian12-6.12-x86_64/console.log",
                         "dmesg": "cells/qemu-debian12-6.12-x86_64/dmesg.log"}),
        CellResult("docker-debian11-x86_64", "SKIP", reason="docker provisioner not built yet",
                   started=T0),
        CellResult("extra-not-in-matrix", "PASS", duration_s=1.0, started=T0,
                   suites={"uu": SuiteResult("uu", "PASS", 1.0, _tests(("echo", "PASS")))}),
    ]


#: logs named by the sample results that are deliberately absent from the report
MISSING_LOGS = {"cells/qemu-debian12-6.12-x86_64/dmesg.log"}


def save_results(report_dir: Path, results: list[CellResult]) -> None:
    """Save @results as the runner does, with a small file for every log they
    name (except MISSING_LOGS)."""
    for r in results:
        r.save(report_dir / "cells" / r.cell / "result.json")
        paths = [*r.logs.values(), *(s.log for s in r.suites.values() if s.log)]
        for rel in paths:
            if rel not in MISSING_LOGS:
                (report_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                (report_dir / rel).write_text(f"log of {r.cell}: {rel}\n")


def make_sample_report(report_dir: Path) -> list[CellResult]:
    """A report dir holding the sample results (not yet rendered)."""
    results = sample_results()
    save_results(report_dir, results)
    return results
