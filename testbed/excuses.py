"""One set of rules for every way a failure may be excused, and for what
fails a run.

A failure is excused in three ways, each shown as what it is, never hidden:

  KNOWN            a known issue of ci/known-issues.yaml matches the failing
                   test (testbed/known_issues.py); the status says KNOWN
  FLAKY            the test failed, then passed when `cse run --retries`
                   ran it again in the same cell; the status says FLAKY,
                   with its attempts
  allowed to fail  the cell is `allow_failure: true` in the matrix (the
                   canary kernel): its status stays FAIL or ERROR, with
                   the note "allowed to fail"

`cse run` and `cse compare` exit 1 only on an unexcused FAIL or ERROR;
with --strict, KNOWN and FLAKY count too (an allowed-to-fail cell never
does: failing is what it is there for).  `cse compare` never reports an
excused failure as a new one.
"""

from __future__ import annotations

from testbed.results import CellResult

#: statuses that fail a run unless excused, and those that are excused failures
UNEXCUSED = ("FAIL", "ERROR")
EXCUSED = ("KNOWN", "FLAKY")


def allowed_to_fail(result: CellResult) -> bool:
    return result.info.get("allow_failure") == "true"


def is_excused(status: str, allowed: bool = False) -> bool:
    """A failure (or FLAKY pass) that must not fail the run nor count as new:
    KNOWN, FLAKY, or any failure of a cell @allowed to fail."""
    return status in EXCUSED or (allowed and status in UNEXCUSED)


def fails_the_run(result: CellResult, strict: bool = False) -> bool:
    """Whether @result makes `cse run` (and `cse compare` for a new failure)
    exit 1: an unexcused FAIL or ERROR; with @strict, KNOWN and FLAKY too."""
    if result.status in UNEXCUSED:
        return not allowed_to_fail(result)
    return strict and result.status in EXCUSED
