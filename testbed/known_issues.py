"""Known issues: failures that are understood and tracked elsewhere, shown
as KNOWN (their own colour and count) instead of turning the board red.
Like SQUAD's known issues, an entry names where it happens (cells, by their
axes) and what fails (tests, by glob):

    known_issues:
      - id: newest-kernel-connect      # letters, digits, '.', '_', '-'; unique
        reason: sid's newest kernel changed kernel_connect() again
        link: https://tracker.example/CSE-42      # optional
        culprit: code                  # code (default), tool or harness (KCIDB)
        intermittent: false            # true: it fails only sometimes
        expires: 2026-06-30            # optional: after this day it masks nothing
        cell: "qemu-*"                 # glob on the cell id
        kernel: newest                 # axes: provisioner, arch, kernel, libc,
        arch: [x86_64, arm64]          #   backend, compiler, os (a glob or a list)
        tests: ["ku.*", "uk.server_death"]   # globs on "suite.test"; default "*"

A cell matches when every axis the entry gives matches it (at least one is
required: an entry for every cell is a mistake); a failing test matches
when one glob matches "suite.test", and a suite that failed as a whole (no
test says why: it crashed, it never ran) matches as "suite".

A matching failure becomes KNOWN with the entry's id (known_issue).  An
expired entry masks nothing and is listed as expired.  An entry that is not
intermittent, matched a cell that ran, and whose tests there all passed is
stale: the issue looks fixed, so the entry should go.  The file is checked
like the matrix: every error names the file, the line, the entry and the key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from testbed.matrix import ARCHES, BACKENDS, COMPILERS, LIBCS, OSES, MatrixError, read_yaml
from testbed.provision import registry
from testbed.results import CellResult, worst

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "ci" / "known-issues.yaml"
#: the axes an entry may match cells by, and the values a plain (glob-free)
#: value must be one of; the result's info holds each
AXES: dict[str, tuple[str, ...] | None] = {
    "provisioner": None, "arch": ARCHES, "kernel": None, "libc": LIBCS, "backend": BACKENDS,
    "compiler": COMPILERS, "os": OSES}
KEYS = ("id", "reason", "link", "culprit", "intermittent", "expires", "cell", "tests", *AXES)
CULPRITS = ("code", "tool", "harness")
_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,99}$")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class KnownIssue:
    """One entry of the known-issues file."""

    id: str
    reason: str
    cell: str = "*"
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tests: tuple[str, ...] = ("*",)
    link: str = ""
    intermittent: bool = False
    expires: date | None = None
    #: what is at fault, as KCIDB's issues say it
    culprit: str = "code"

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def matches_cell(self, cell_id: str, info: dict[str, str]) -> bool:
        if not fnmatch.fnmatchcase(cell_id, self.cell):
            return False
        return all(any(fnmatch.fnmatchcase(info.get(axis, ""), g) for g in globs)
                   for axis, globs in self.axes)

    def matches_test(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, g) for g in self.tests)


@dataclass
class IssueState:
    """What one entry did to a set of results."""

    issue: KnownIssue
    #: "cell: suite.test" of each failure it masked
    masked: list[str] = field(default_factory=list)
    #: cells it matched that ran (not SKIP)
    cells: list[str] = field(default_factory=list)
    #: active (masked something), stale (its tests passed), expired, or idle
    #: (no cell of it ran, or an intermittent issue that did not show)
    state: str = "idle"


@dataclass
class Applied:
    """Results with known issues applied, and what each entry did."""

    results: dict[str, CellResult]
    issues: list[IssueState]


# --- reading the file --------------------------------------------------------

def _globs(value: object, key: str, fail: Callable[[str, str], MatrixError]
           ) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise fail(key, f"must be a non-empty string or list of strings (globs), not {value!r}")
    return tuple(values)


def _date(value: object, fail: Callable[[str, str], MatrixError]) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise fail("expires", f"must be a date such as 2026-06-30, not {value!r}")


def _issue(raw: dict[str, Any], fail: Callable[[str, str], MatrixError]) -> KnownIssue:
    for key in raw:
        if key not in KEYS:
            raise fail(key, f"unknown key; known: {', '.join(KEYS)}")
    for key in ("id", "reason"):
        if not (isinstance(raw.get(key), str) and raw[key].strip()):
            raise fail(key, "missing: every known issue has an id and says why"
                       if key not in raw else f"must be a non-empty string, not {raw[key]!r}")
    if not _ID.match(raw["id"]):
        raise fail("id", f"{raw['id']!r}: use letters, digits, '.', '_' or '-' "
                         f"(at most 100, starting with a letter or digit)")
    link = raw.get("link", "")
    if not isinstance(link, str):
        raise fail("link", f"must be a string (a URL), not {link!r}")
    culprit = raw.get("culprit", "code")
    if culprit not in CULPRITS:
        raise fail("culprit", f"must be one of {', '.join(CULPRITS)}, not {culprit!r}")
    intermittent = raw.get("intermittent", False)
    if not isinstance(intermittent, bool):
        raise fail("intermittent", f"must be true or false, not {intermittent!r}")
    axes = []
    for axis, known in AXES.items():
        if axis not in raw:
            continue
        globs = _globs(raw[axis], axis, fail)
        allowed = registry.names() if axis == "provisioner" else known
        for g in globs:
            if allowed is not None and not _GLOB.search(g) and g not in allowed:
                raise fail(axis, f"unknown value {g!r}; known: {', '.join(allowed)}")
        axes.append((axis, globs))
    cell = raw.get("cell", "*")
    if not (isinstance(cell, str) and cell):
        raise fail("cell", f"must be a glob on cell ids such as 'qemu-*', not {cell!r}")
    if "cell" not in raw and not axes:
        raise fail("cell", f"missing: say which cells (cell: a glob on the id, or one of "
                           f"{', '.join(AXES)}); an issue of every cell is not known, it "
                           f"is broken")
    tests = _globs(raw.get("tests", "*"), "tests", fail)
    expires = _date(raw["expires"], fail) if "expires" in raw else None
    return KnownIssue(id=raw["id"], reason=raw["reason"].strip(), cell=cell,
                      axes=tuple(axes), tests=tests, link=link, intermittent=intermittent,
                      expires=expires, culprit=culprit)


def load_known_issues(path: Path) -> list[KnownIssue]:
    """Read and check the known-issues file; MatrixError (file:line, entry,
    key) on any problem."""
    data, check = read_yaml(path, "the known issues", "known_issues", "issue")
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"known_issues"}:
        raise check.error("must be a mapping with exactly one key, 'known_issues'")
    if data["known_issues"] is None:
        return []
    if not isinstance(data["known_issues"], list):
        raise check.error("'known_issues' must be a list of issues")
    issues: list[KnownIssue] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["known_issues"]):
        iid = raw.get("id") if isinstance(raw, dict) else None
        label = repr(iid) if isinstance(iid, str) and iid else f"known_issues[{index}] (no id)"

        def fail(key: str, msg: str, index: int = index, label: str = label) -> MatrixError:
            return check.error(msg, index, label, key)

        if not isinstance(raw, dict):
            raise fail("", f"must be a mapping of keys, not {type(raw).__name__}")
        issue = _issue(raw, fail)
        if issue.id in seen:
            raise fail("id", f"duplicate id (also known_issues[{seen[issue.id]}])")
        seen[issue.id] = index
        issues.append(issue)
    return issues


def load_default(path: Path | None = None) -> list[KnownIssue]:
    """The issues of @path, else of ci/known-issues.yaml when it exists."""
    if path is None:
        path = DEFAULT_FILE
        if not path.is_file():
            return []
    return load_known_issues(path)


# --- applying them -----------------------------------------------------------

def units(result: CellResult) -> list[tuple[str, str]]:
    """(path, status) of each thing that can pass or fail in @result: its
    tests ("suite.test") and each suite that failed as a whole ("suite")."""
    out = []
    for name, suite in result.suites.items():
        out += [(f"{name}.{t.name}", t.status) for t in suite.tests]
        if suite.status in ("FAIL", "ERROR", "KNOWN") and \
                not any(t.status in ("FAIL", "ERROR", "KNOWN") for t in suite.tests):
            out.append((name, suite.status))
    return out


def _mask(result: CellResult, live: list[KnownIssue], states: dict[str, IssueState]) -> None:
    """Turn @result's failures that @live issues match into KNOWN, in place."""
    def first(path: str) -> KnownIssue | None:
        return next((i for i in live if i.matches_test(path)), None)

    changed = False
    for name, suite in result.suites.items():
        had_failing_test = False
        for t in suite.tests:
            if t.status not in ("FAIL", "ERROR"):
                continue
            had_failing_test = True
            if issue := first(f"{name}.{t.name}"):
                t.status, t.known_issue = "KNOWN", issue.id
                states[issue.id].masked.append(f"{result.cell}: {name}.{t.name}")
        if suite.status not in ("FAIL", "ERROR"):
            continue
        still = [t for t in suite.tests if t.status in ("FAIL", "ERROR")]
        if had_failing_test and not still:
            suite.status = "KNOWN"
            suite.known_issue = next(t.known_issue for t in suite.tests if t.known_issue)
            changed = True
        elif not had_failing_test and (issue := first(name)):
            suite.status, suite.known_issue = "KNOWN", issue.id
            states[issue.id].masked.append(f"{result.cell}: {name}")
            changed = True
    if changed and result.suites:
        before = result.status
        result.status = worst([s.status for s in result.suites.values()])
        if result.status == "KNOWN" and before != "KNOWN":
            issue_id = next(s.known_issue for s in result.suites.values() if s.known_issue)
            result.reason = f"known issue {issue_id}" + (f": {result.reason}"
                                                         if result.reason else "")


def _judge(state: IssueState, matched: list[CellResult], today: date) -> str:
    issue = state.issue
    if issue.expired(today):
        return "expired"
    if state.masked:
        return "active"
    ran = [r for r in matched if r.status != "SKIP"]
    tried = [s for r in ran for path, s in units(r) if issue.matches_test(path)]
    if tried and not issue.intermittent and all(s in ("PASS", "FLAKY", "SKIP") for s in tried) \
            and any(s != "SKIP" for s in tried):
        return "stale"
    return "idle"


def apply(results: dict[str, CellResult], issues: list[KnownIssue],
          today: date | None = None) -> Applied:
    """@results with the failures @issues match turned KNOWN (copies: the
    saved results stay as the run left them), and each issue's state."""
    today = today or datetime.now(timezone.utc).date()
    states = {i.id: IssueState(i) for i in issues}
    live = [i for i in issues if not i.expired(today)]
    out: dict[str, CellResult] = {}
    matched: dict[str, list[CellResult]] = {i.id: [] for i in issues}
    for cid, raw in results.items():
        r = CellResult.from_json(raw.to_json())
        mine = [i for i in live if i.matches_cell(cid, r.info)]
        for i in issues:
            if i.matches_cell(cid, r.info):
                matched[i.id].append(r)
                if r.status != "SKIP":
                    states[i.id].cells.append(cid)
        if mine and r.status != "SKIP":
            _mask(r, mine, states)
        out[cid] = r
    for state in states.values():
        state.state = _judge(state, matched[state.issue.id], today)
    return Applied(out, list(states.values()))


def summary(applied: Applied) -> list[dict[str, Any]]:
    """The issues' states as matrix.json lists them."""
    return [{"id": s.issue.id, "reason": s.issue.reason, "link": s.issue.link,
             "culprit": s.issue.culprit, "intermittent": s.issue.intermittent,
             "expires": s.issue.expires.isoformat() if s.issue.expires else "",
             "state": s.state, "cells": s.cells, "masked": s.masked}
            for s in applied.issues]
