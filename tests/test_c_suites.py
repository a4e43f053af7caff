"""Every C test binary, in every user-space build flavour `make test` runs
(builds.TESTED: this host's compilers and C libraries, and other
architectures under qemu-user), as pytest results.

Each binary prints KTAP; each KTAP case becomes one pytest item.  A binary
runs once per flavour and test run (testbed.runonce shares the run between
xdist workers; the xdist group only keeps its items together where it can),
then its items look up their own result.
"""

from __future__ import annotations

import subprocess

import pytest

from testbed import ktap, runonce
from testbed.builds import FLAVOURS, TESTED
from testbed.suites import SUITES, SuiteRun, binary, list_cases, run_suite
from testbed.toolchains import ToolMissing


def _params() -> list:
    params = []
    for fl in TESTED:
        flavour = FLAVOURS[fl]
        for suite in SUITES:
            group = pytest.mark.xdist_group(f"{fl}-{suite}")
            try:
                cases = list_cases(flavour, suite)
            except (OSError, subprocess.SubprocessError, ToolMissing):
                cases = [None]
            for case in cases:
                params.append(pytest.param(fl, suite, case, marks=group,
                                           id=f"{fl}/{suite}/{case or 'BUILD-MISSING'}"))
            params.append(pytest.param(fl, suite, "", marks=group, id=f"{fl}/{suite}/exit"))
    return params


def _suite_run(fl: str, suite: str) -> SuiteRun:
    """Run the binary once per test run, whichever worker asks first."""
    def run() -> dict:
        r = run_suite(FLAVOURS[fl], suite)
        return {"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}

    r = runonce.once(f"c-{fl}-{suite}", run)
    return SuiteRun(fl, suite, r["returncode"], ktap.parse(r["stdout"]), r["stderr"])


def _tail(text: str, n: int = 60) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


@pytest.mark.parametrize("fl,suite,case", _params())
def test_c(fl: str, suite: str, case: str | None) -> None:
    if case is None:
        pytest.fail(f"{binary(FLAVOURS[fl], suite)} is missing: run `make test` "
                    f"(or `python -m testbed build {fl}`)")
    r = _suite_run(fl, suite)
    if case == "":
        # The binary as a whole: finished, every planned case reported, exit 0
        # (catches crashes and sanitizer reports outside any one case).
        assert r.returncode == 0 and r.run.complete, (
            f"{suite} on {fl}: exit {r.returncode}, {len(r.run.cases)} of "
            f"{r.run.planned} cases reported\n{_tail(r.stderr)}")
        return
    c = r.run.by_name().get(case)
    if c is None:
        pytest.fail(f"{case} never reported (exit {r.returncode})\n{_tail(r.stderr)}")
    if c.status == "skip":
        pytest.skip(c.reason or "skipped")
    assert c.status == "pass", (f"{suite}/{case} on {fl}: {c.reason}\n"
                                + "\n".join(c.diagnostics) + "\n" + _tail(r.stderr))
