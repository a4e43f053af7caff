"""JUnit XML, one file per cell (junit/<cell>.xml), for CI test-report tools.

Each suite of the cell is a <testsuite> named "<cell>.<suite>" (unique when
the files of many cells are read together), each test a <testcase>: FAIL ->
<failure>, ERROR -> <error>, SKIP -> <skipped>, with the reason as message and
the diagnostics as text; a KNOWN failure is <skipped> with "KNOWN: <issue>"
and a FLAKY test passes with what happened in its system-out.  A suite or
cell that did not pass without any test saying so (a VM that never booted, a
cell that ERRORed before any suite ran, a skipped cell) gets one testcase of
its own, so no CI tool counts it green.
Cells that were never run have no file: there is no result to report.
"""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from testbed.report.files import atomic_write
from testbed.report.model import Row
from testbed.results import CellResult, Status, TestResult

#: characters XML 1.0 cannot carry (console logs hold ANSI escapes and NULs)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _case(name: str, classname: str, status: Status, reason: str, diagnostics: str,
          culprit: str | None) -> TestCase:
    case = TestCase(_xml_text(name), _xml_text(classname))
    message = _xml_text(reason) or status
    if status in ("PASS", "FLAKY"):
        # FLAKY passed in the end: a pass to JUnit readers, with what happened
        note = f"FLAKY: {reason}\n" if status == "FLAKY" else ""
        if note or diagnostics:
            case.system_out = _xml_text(note + diagnostics)
        return case
    if status == "KNOWN":  # excused: not a failure to CI tools, and not hidden
        outcome: Failure | Error | Skipped = Skipped(f"KNOWN: {message}")
    else:
        outcome = {"FAIL": Failure, "ERROR": Error, "SKIP": Skipped}[status](
            message, culprit if status != "SKIP" else None)
    if diagnostics:
        outcome.text = _xml_text(diagnostics)
    case.result = [outcome]
    return case


def _reason(t: TestResult) -> str:
    if t.status == "KNOWN":
        return f"{t.known_issue}: {t.reason}"
    if t.status == "FLAKY":
        return f"passed on attempt {t.attempts}; before: {t.reason}"
    return t.reason


def _properties(suite: TestSuite, props: dict[str, str]) -> None:
    for name, value in props.items():
        if value:
            suite.add_property(_xml_text(name), _xml_text(value))


def cell_junit(r: CellResult) -> JUnitXml:
    """The JUnit document of one cell's result."""
    xml = JUnitXml(_xml_text(r.cell))
    cell_props = {"culprit": r.culprit or "", **r.info}
    durations: list[tuple[TestSuite, float]] = []
    for name, s in r.suites.items():
        suite = TestSuite(_xml_text(f"{r.cell}.{name}"))
        if r.started:
            suite.timestamp = r.started
        classname = f"{r.cell}.{name}"
        cases = [_case(t.name, classname, t.status, _reason(t), t.diagnostics, r.culprit)
                 for t in s.tests]
        if s.status != "PASS" and not any(t.status == s.status for t in s.tests):
            cases.append(_case(f"{name} (suite)", classname, s.status,
                               s.error or r.reason or f"suite {s.status}", "", r.culprit))
        _properties(suite, {**cell_props, "log": s.log})
        suite.add_testcases(cases)
        xml.add_testsuite(suite)
        durations.append((suite, s.duration_s))
    shown = [t.status for s in r.suites.values() for t in s.tests] + \
        [s.status for s in r.suites.values()]
    if r.status != "PASS" and r.status not in shown:
        suite = TestSuite(_xml_text(r.cell))
        _properties(suite, {**cell_props, **{f"log:{k}": v for k, v in r.logs.items()}})
        suite.add_testcase(_case("cell", r.cell, r.status, r.reason or f"cell {r.status}", "",
                                 r.culprit))
        xml.add_testsuite(suite)
        durations.append((suite, r.duration_s))
    xml.update_statistics()  # counts; it also sums test times, which we lack:
    for suite, seconds in durations:
        suite.time = round(seconds, 3)
    xml.time = round(r.duration_s, 3)
    return xml


def write_junit(rows: list[Row], junit_dir: Path) -> dict[str, Path]:
    """junit/<cell>.xml for every row with a result; stale files of cells
    that no longer have one are removed so the directory matches the report."""
    written: dict[str, Path] = {}
    for row in rows:
        if row.result is not None:
            path = junit_dir / f"{row.cell}.xml"
            atomic_write(path, _DECLARATION + cell_junit(row.result).tostring())
            written[f"junit/{path.name}"] = path
    if junit_dir.is_dir():
        keep = set(written.values())
        for old in junit_dir.glob("*.xml"):
            if old not in keep:
                old.unlink()
    return written
