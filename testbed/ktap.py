"""Parse KTAP output (kselftest / KUnit style) into per-case results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RESULT = re.compile(
    r"^(?P<ok>ok|not ok) (?P<num>\d+) (?P<name>[^#]*?)\s*(?:#\s*(?P<directive>.*))?$"
)
_PLAN = re.compile(r"^1\.\.(?P<n>\d+)$")


@dataclass
class KtapCase:
    """One test case: status is "pass", "fail" or "skip"."""

    name: str
    status: str
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)


@dataclass
class KtapRun:
    """A whole KTAP stream: its plan and its cases, in order."""

    planned: int | None
    cases: list[KtapCase]

    def by_name(self) -> dict[str, KtapCase]:
        return {c.name: c for c in self.cases}

    @property
    def complete(self) -> bool:
        """True when the plan was printed and every planned case reported."""
        return self.planned is not None and self.planned == len(self.cases)


def parse(text: str) -> KtapRun:
    """Parse KTAP; "# ..." lines before a result belong to that result."""
    planned: int | None = None
    cases: list[KtapCase] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("KTAP version") or line.startswith("TAP version"):
            continue
        if m := _PLAN.match(line):
            planned = int(m["n"])
            continue
        if line.startswith("#"):
            pending.append(line[1:].strip())
            continue
        if m := _RESULT.match(line):
            directive = (m["directive"] or "").strip()
            if m["ok"] == "ok":
                status = "skip" if directive.upper().startswith("SKIP") else "pass"
                reason = directive[4:].strip() if status == "skip" else ""
            else:
                status, reason = "fail", directive
            cases.append(KtapCase(m["name"].strip(), status, reason, pending))
            pending = []
            continue
        pending.append(line)  # stray output (a sanitizer report, a warning)
    return KtapRun(planned, cases)
