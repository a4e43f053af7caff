"""From what a cell printed to one status per suite and per cell, with a culprit.

The rules (agreed for the whole testbed):
  a KTAP case "not ok"                       FAIL code
  a suite killed by its timeout              FAIL code, "hung: killed after N s"
  KTAP that stops short (crash, VM death)    FAIL code, "crashed: KTAP incomplete"
  a complete KTAP run but a non-zero exit    FAIL code (e.g. a server crashed at exit)
  a kernel WARNING / BUG / Oops in its log   FAIL code (testbed/kernel_health.py
                                             says the rest of the kernel's verdict)
  a suite command that cannot be started     ERROR harness
  a suite that never ran                     ERROR, culprit of whatever stopped it
A cell's status is the worst of its suites (FAIL > ERROR > KNOWN > FLAKY >
PASS > SKIP) and its culprit that of the first suite with that status.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed import ktap
from testbed.cellscript import SectionRun
from testbed.provision.base import TIMEOUT_EXITS
from testbed.results import Culprit, Status, SuiteResult, TestResult, worst

_KTAP_STATUS: dict[str, Status] = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}
#: exit statuses of sh for a command it could not execute or find
_NOT_RUNNABLE = (126, 127)


@dataclass
class Verdict:
    """One suite's result and who is to blame for it (None when PASS/SKIP)."""

    result: SuiteResult
    culprit: Culprit | None = None
    #: the failure is more than its failing KTAP cases (a crash, a hang, the
    #: kernel's log): a retry must run the whole suite, not the cases alone
    whole: bool = True


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tests_of(run: ktap.KtapRun) -> list[TestResult]:
    return [TestResult(c.name, _KTAP_STATUS[c.status], c.reason, "\n".join(c.diagnostics))
            for c in run.cases]


def not_run(name: str, why: str, status: Status = "ERROR",
            culprit: Culprit | None = "harness") -> Verdict:
    """A suite that did not run: ERROR (with @culprit) or SKIP."""
    return Verdict(SuiteResult(name, status, error=why),
                   culprit if status in ("FAIL", "ERROR") else None)


def judge_suite(sec: SectionRun, ktap_text: str, *, timeout_s: int,
                stopped: str = "", cell_timed_out: bool = False) -> Verdict:
    """The verdict on one suite from its section and its KTAP text.

    @stopped says why the whole cell stopped early ("" when its script
    finished), @cell_timed_out whether that was the cell's own timeout: a
    suite still running then hung (or crashed, when the cell died).
    """
    name = sec.name
    run = ktap.parse(ktap_text)
    res = SuiteResult(name, "PASS", duration_s=float(sec.elapsed_s or 0), tests=tests_of(run))
    failed = [t.name for t in res.tests if t.status == "FAIL"]
    fail_note = f"; not ok: {', '.join(failed)}" if failed else ""

    def fail(why: str) -> Verdict:
        res.status, res.error = "FAIL", why + fail_note
        return Verdict(res, "code")

    if not sec.begun:
        return not_run(name, f"not run: {stopped or 'the cell script never reached it'}")
    if not sec.ended:
        if cell_timed_out:
            return fail(f"hung: the cell was killed at its timeout while this suite ran "
                        f"({stopped})")
        return fail(f"crashed: KTAP incomplete (the cell stopped while this suite ran: "
                    f"{stopped or 'no end marker'})")
    rc = sec.returncode
    if rc in TIMEOUT_EXITS and (sec.elapsed_s or 0) >= timeout_s - 1:
        return fail(f"hung: killed after {timeout_s} s")
    if rc in _NOT_RUNNABLE and not run.cases:
        res.status, res.error = "ERROR", f"the suite command could not run (exit {rc}): " \
                                         f"{tail(sec.text, 3)}"
        return Verdict(res, "harness")
    if failed:
        res.status, res.error = "FAIL", f"not ok: {', '.join(failed)}"
        return Verdict(res, "code", whole=False)
    if not run.complete:
        planned = "no plan" if run.planned is None else f"{len(run.cases)} of {run.planned}"
        return fail(f"crashed: KTAP incomplete ({planned}, exit {rc})")
    if rc:
        return fail(f"exit status {rc} after a complete KTAP run")
    res.status = worst([t.status for t in res.tests], empty="SKIP")
    if not res.tests:
        res.error = "the suite has no test cases"
    return Verdict(res)


def add_failure(v: Verdict, test: str, why: str, diagnostics: str = "") -> None:
    """Fail @v's suite for a reason outside its KTAP (kernel log, a module step)."""
    add_problem(v, test, "FAIL", "code", why, diagnostics)


def add_problem(v: Verdict, test: str, status: Status, culprit: Culprit, why: str,
                diagnostics: str = "") -> None:
    """Add a check @test that FAILed (culprit code) or ERRORed (a tool) to
    @v's suite: the suite takes the worse status, and a FAIL's culprit."""
    v.result.tests.append(TestResult(test, status, why, diagnostics))
    v.whole = True
    prior = v.result.error if v.result.status in ("FAIL", "ERROR") else ""
    if v.result.status == "FAIL" or (v.result.status == "ERROR" and status == "ERROR"):
        v.result.error = f"{prior}; {why}" if prior else why
        return
    v.result.status, v.culprit = status, culprit
    v.result.error = f"{why}; {prior}" if prior else why


def judge_cell(verdicts: dict[str, Verdict]) -> tuple[Status, Culprit | None, str]:
    """(status, culprit, reason) of a cell from its suites' verdicts."""
    status = worst([v.result.status for v in verdicts.values()])
    if not verdicts:
        return status, None, "no suites"
    first = next(v for v in verdicts.values() if v.result.status == status)
    why = first.result.error
    reason = f"{first.result.name}: {why}" if why else ""
    return status, first.culprit if status in ("FAIL", "ERROR") else None, reason


__all__ = ["Verdict", "add_failure", "add_problem", "judge_cell", "judge_suite", "not_run",
           "tail", "tests_of"]
