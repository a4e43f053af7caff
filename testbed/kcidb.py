"""`cse export --kcidb FILE`: a run in KernelCI's result schema (KCIDB, the
schema of the kcidb-io package, v5), for submission with `kcidb-submit`.

    checkout   the source tree the run tested: this checkout's commit
    builds     one per cell: the code built for its target (arch, compiler,
               build log), its status the build suite's
    tests      one per suite ("cse.<suite>") and per test
               ("cse.<suite>.<test>"), each with its cell as environment
               and its log's URL
    issues     the known issues (ci/known-issues.yaml): reason, link, culprit
    incidents  each failure a known issue matched (KNOWN), linked to both

Statuses map as KCIDB defines them: PASS, FAIL and SKIP as they are; ERROR
of a tool is ERROR, ERROR of the testbed itself (culprit harness) is MISS
(the test did not run because the harness failed); KNOWN is the FAIL it
was (or ERROR, when its culprit is a tool) with an incident; FLAKY is a
PASS, its attempts in misc.  Log URLs are --log-url BASE joined with each
log's path in the report dir (default: file URLs of the report dir).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from testbed.builds import ROOT
from testbed.known_issues import KnownIssue
from testbed.results import CellResult, SuiteResult, TestResult

ORIGIN = "cse"
#: KCIDB 5.x, the version of the kcidb-io package this was written against
VERSION = {"major": 5, "minor": 3}
_SEGMENT = re.compile(r"[^a-zA-Z0-9_-]")


def _segment(name: str) -> str:
    """A test path segment: letters, digits, '_' and '-' only."""
    return _SEGMENT.sub("_", name) or "_"


def _status(status: str, culprit: str | None) -> str:
    if status == "FLAKY":
        return "PASS"
    if status == "KNOWN":
        return "ERROR" if culprit in ("tool", "harness") else "FAIL"
    if status == "ERROR" and culprit == "harness":
        return "MISS"
    return status


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


class _Urls:
    """Log URLs: @base joined with a log's path in the report dir."""

    def __init__(self, report_dir: Path, base: str | None) -> None:
        self.base = (base or report_dir.resolve().as_uri()).rstrip("/")

    def __call__(self, rel: str) -> str | None:
        return f"{self.base}/{rel}" if rel else None


def _test(checkout: str, build: str, r: CellResult, path: str, status: str,
          culprit: str | None, *, log: str, urls: _Urls, comment: str = "",
          duration: float | None = None, misc: dict[str, Any] | None = None) -> dict[str, Any]:
    environment = {"comment": f"{r.cell}: {r.info.get('provisioner', '')} "
                              f"{r.info.get('image', '')} kernel "
                              f"{r.info.get('kernel_release') or r.info.get('kernel', '')}"
                              .replace("  ", " ").strip(),
                   "misc": {k: v for k, v in r.info.items() if k != "build"} | {"cell": r.cell}}
    test: dict[str, Any] = {"id": f"{checkout}:{r.cell}:{path}", "build_id": build,
                            "origin": ORIGIN, "path": path, "status": _status(status, culprit),
                            "environment": environment}
    if comment:
        test["comment"] = comment[:1000]
    if url := urls(log):
        test["log_url"] = url
    if r.started:
        test["start_time"] = r.started
    if duration is not None:
        test["duration"] = duration
    test["misc"] = {"cse_status": status, **({"culprit": culprit} if culprit else {}),
                    **(misc or {})}
    return test


def _suite_tests(checkout: str, build: str, r: CellResult, name: str, s: SuiteResult,
                 urls: _Urls) -> list[dict[str, Any]]:
    base = f"cse.{_segment(name)}"
    culprit = r.culprit if s.status in ("FAIL", "ERROR", "KNOWN") else None
    # the suite's own incident only when the issue matched it as a whole
    whole = s.known_issue if not any(t.known_issue for t in s.tests) else ""
    out = [_test(checkout, build, r, base, s.status, culprit, log=s.log, urls=urls,
                 comment=s.error, duration=s.duration_s,
                 misc={"attempts": s.attempts, **({"known_issue": whole} if whole else {})})]
    for t in s.tests:
        t_culprit = culprit if t.status in ("FAIL", "ERROR", "KNOWN") else None
        out.append(_test(checkout, build, r, f"{base}.{_segment(t.name)}", t.status, t_culprit,
                         log=s.log, urls=urls, comment=_comment(t),
                         misc={"attempts": t.attempts,
                               **({"known_issue": t.known_issue} if t.known_issue else {})}))
    return out


def _comment(t: TestResult) -> str:
    first = next(iter(t.diagnostics.splitlines()), "")
    return t.reason or first


def _build(checkout: str, r: CellResult, urls: _Urls) -> dict[str, Any]:
    info = r.info
    b: dict[str, Any] = {"id": f"{checkout}:{r.cell}", "checkout_id": checkout, "origin": ORIGIN,
                         "architecture": info.get("arch", ""),
                         "compiler": info.get("compiler", ""),
                         "config_name": f"{info.get('os', 'linux')}-{info.get('libc', '')}-"
                                        f"{info.get('backend', '')}",
                         "comment": f"cell {r.cell}",
                         "misc": {"cell": r.cell, "provisioner": info.get("provisioner", ""),
                                  "image": info.get("image", ""),
                                  "kernel": info.get("kernel", "")}}
    build = r.suites.get("build")
    if build is not None:
        b["status"] = _status(build.status, r.culprit if build.status != "PASS" else None)
        b["duration"] = build.duration_s
    elif r.status == "SKIP":
        b["status"] = "SKIP"
    if url := urls(r.logs.get("build", "")):
        b["log_url"] = url
    if r.started:
        b["start_time"] = r.started
    return b


def _issue(issue: KnownIssue, state: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"{ORIGIN}:{issue.id}", "version": 1, "origin": ORIGIN,
                           "report_subject": issue.reason[:400], "comment": issue.reason,
                           "culprit": {issue.culprit: True},
                           "misc": {"intermittent": issue.intermittent, "state": state,
                                    "expires": issue.expires.isoformat() if issue.expires
                                    else ""}}
    if issue.link:
        out["report_url"] = issue.link
    return out


def export(results: dict[str, CellResult], issues: list[KnownIssue],
           issue_states: dict[str, str], report_dir: Path,
           log_url: str | None = None) -> dict[str, Any]:
    """The KCIDB document of @results (known issues applied: KNOWN statuses
    name their issue) and the known @issues."""
    commit = _git("rev-parse", "HEAD")
    checkout = f"{ORIGIN}:{commit or 'unknown'}"
    urls = _Urls(report_dir, log_url)
    starts = sorted(r.started for r in results.values() if r.started)
    co: dict[str, Any] = {"id": checkout, "origin": ORIGIN, "tree_name": "cse", "valid": True}
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        co["git_commit_hash"] = commit
    if (remote := _git("remote", "get-url", "origin")).startswith("https://"):
        co["git_repository_url"] = remote
    if branch := _git("rev-parse", "--abbrev-ref", "HEAD"):
        co["git_repository_branch"] = branch
    if starts:
        co["start_time"] = starts[0]
    builds, tests, incidents = [], [], []
    for _, r in sorted(results.items()):
        build = _build(checkout, r, urls)
        builds.append(build)
        for name, s in r.suites.items():
            for t in _suite_tests(checkout, build["id"], r, name, s, urls):
                tests.append(t)
                if t["misc"].get("known_issue") and t["misc"]["cse_status"] == "KNOWN":
                    iid = t["misc"]["known_issue"]
                    incidents.append({"id": f"{t['id']}:{iid}", "origin": ORIGIN,
                                      "issue_id": f"{ORIGIN}:{iid}", "issue_version": 1,
                                      "test_id": t["id"], "present": True})
    return {"version": dict(VERSION), "checkouts": [co], "builds": builds, "tests": tests,
            "issues": [_issue(i, issue_states.get(i.id, "")) for i in issues],
            "incidents": incidents}


def validate(data: dict[str, Any]) -> str | None:
    """Why @data is not valid KCIDB (kcidb-io's schema), None if it is, or
    when kcidb-io is not installed (pip install kcidb-io to check)."""
    try:
        from kcidb_io import schema  # optional: the testbed works without it
    except ImportError:
        return None
    try:
        schema.LATEST.validate(data)
    except Exception as e:  # jsonschema's ValidationError, whatever its module
        return str(e).splitlines()[0]
    return None
