"""A suite run more than once in one cell: `cse run --repeat N` (stress:
every suite N times) and `cse run --retries N` (a failed test, or a suite
whose tests cannot run alone, again in the same provisioned cell).

    repeated   a test that failed in any run FAILs, "failed in 2 of 5 runs"
    retried    a test that failed and then passed is FLAKY, with the attempt
               that passed; one that failed every time stays FAIL
    suite      a suite retried whole (it crashed, hung, or the kernel
               complained) is FLAKY when a retry passes, FAIL when none does

Everything here works on the runner's Verdicts; which suites can run single
cases is the runner's to say (CASE_SUITES).
"""

from __future__ import annotations

from testbed.results import SuiteResult, TestResult, worst
from testbed.verdict import Verdict

#: suites whose command runs only the cases named after it (ktap_main)
CASE_SUITES = frozenset({"uu", "uk"})
_FAILED = ("FAIL", "ERROR")


def retry_plan(verdicts: dict[str, Verdict], runnable: set[str]) -> dict[str, list[str] | None]:
    """The failed suites of @verdicts to run again: suite -> its failing
    cases (when it can run cases alone and they are all that failed), or
    None for the whole suite."""
    plan: dict[str, list[str] | None] = {}
    for name, v in verdicts.items():
        if name not in runnable or v.result.status not in _FAILED:
            continue
        cases = [t.name for t in v.result.tests if t.status in _FAILED]
        plan[name] = cases if name in CASE_SUITES and cases and not v.whole else None
    return plan


def merge_repeats(runs: list[dict[str, Verdict]]) -> dict[str, Verdict]:
    """One verdict per suite of @runs (the same suites, run len(runs) times):
    the first run's failure (or the first run) as the base, every test's
    status the worst it had, its reason saying how often it failed."""
    n = len(runs)
    out: dict[str, Verdict] = {}
    for name in runs[0]:
        verdicts = [r[name] for r in runs if name in r]
        failing = [v for v in verdicts if v.result.status in _FAILED]
        base = failing[0] if failing else verdicts[0]
        res = SuiteResult(base.result.name, worst([v.result.status for v in verdicts]),
                          round(sum(v.result.duration_s for v in verdicts), 1),
                          error=base.result.error, log=base.result.log, attempts=n)
        if failing and n > 1:
            res.error = f"failed in {len(failing)} of {n} runs: {base.result.error}"
        tests: dict[str, list[TestResult]] = {}
        for v in verdicts:
            for t in v.result.tests:
                tests.setdefault(t.name, []).append(t)
        for tname, seen in tests.items():
            bad = [t for t in seen if t.status in _FAILED]
            first = bad[0] if bad else seen[0]
            t = TestResult(tname, worst([x.status for x in seen]), first.reason,
                           first.diagnostics, attempts=n)
            if bad and n > 1:
                t.reason = f"failed in {len(bad)} of {n} runs" + \
                    (f": {first.reason}" if first.reason else "")
            res.tests.append(t)
        out[name] = Verdict(res, base.culprit if res.status in _FAILED else None,
                            whole=any(v.whole for v in failing))
    return out


def merge_retry(current: Verdict, retry: Verdict, attempt: int,
                cases: list[str] | None) -> Verdict:
    """@current after its retry, attempt number @attempt, of @cases (None:
    the whole suite)."""
    res = current.result
    res.attempts = attempt
    if cases is None:
        if retry.result.status in _FAILED:
            return current  # failed again: the first failure says why
        again = retry.result
        before = {t.name: t for t in res.tests if t.status in _FAILED}
        for t in again.tests:
            if t.status in ("PASS", "SKIP") and t.name in before:
                t.status, t.attempts = "FLAKY", attempt
                t.reason, t.diagnostics = before[t.name].reason, before[t.name].diagnostics
        flaky = SuiteResult(res.name, "FLAKY", round(res.duration_s + again.duration_s, 1),
                            again.tests, error=f"attempt 1: {res.error}",
                            log=again.log or res.log, attempts=attempt)
        return Verdict(flaky, None, whole=False)
    passed = {t.name for t in retry.result.tests if t.status in ("PASS", "SKIP")}
    for t in res.tests:
        if t.name in cases and t.status in _FAILED:
            t.attempts = attempt
            if t.name in passed:
                t.status = "FLAKY"
    if not any(t.status in _FAILED for t in res.tests):
        res.status, res.error = worst([t.status for t in res.tests], empty="SKIP"), ""
        return Verdict(res, None, whole=False)
    return current
