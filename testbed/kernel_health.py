"""The kernel health guard of the suites that run in a VM (like LTP kirk's
per-test taint check): what the kernel reported while a suite ran, who is
to blame for it, and what its taint flags say.

After each suite the guest prints the new kernel log lines (`dmesg -c`,
section "dmesg-<suite>") and /proc/sys/kernel/tainted ("taint-<suite>"; the
first reading, "taint-boot", is taken before any module is loaded).

A report is a headline the kernel prints (WARNING, BUG, Oops, a soft
lockup, an RCU stall, a hung task, lockdep, KASAN, UBSAN, a panic) and the
lines after it up to the next headline or its "---[ end trace".  Its trace
names our modules when a frame is in one ("cse_exec+0x45/0x90 [cse]"; the
"Modules linked in:" list does not count).  The verdict:

  a WARNING, BUG, Oops, lockdep, KASAN or UBSAN report   FAIL, culprit code
  a soft lockup, RCU stall, hung task or panic whose      FAIL, culprit code
    trace names our modules
  ... whose trace does not (the host starving a TCG       ERROR, culprit tool
    guest, a driver of the VM's own)
  a new taint flag other than O (out-of-tree module) and  FAIL, culprit code
    E (unsigned module), which loading cse.ko sets itself
    (L alone, from a soft lockup blamed on the tool, is not)
  a VM that died or stopped answering during a suite       as its last reports
    say; with none naming our modules, ERROR, culprit tool
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from testbed.results import Culprit, Status

#: the modules this project loads: cse.ko, cse_conformance.ko, and any other
#: cse_* module (the runner adds the .ko files of the cell's module dir)
OUR_MODULES = frozenset({"cse", "cse_conformance"})
_OURS_PREFIX = "cse_"
#: headline -> kind, most specific first
_HEADLINES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ("panic", r"Kernel panic - not syncing"),
        ("soft lockup", r"BUG: soft lockup"),
        ("hard lockup", r"Watchdog detected hard LOCKUP|NMI watchdog: .*hard LOCKUP"),
        ("rcu stall", r"rcu: INFO: .*detected stalls?|rcu_\w+ detected stalls|"
                      r"self-detected stall on CPU"),
        ("hung task", r"INFO: task .* blocked for more than \d+ seconds"),
        ("lockdep", r"WARNING: possible (?:circular|recursive) locking|"
                    r"WARNING: inconsistent lock state|possible irq lock inversion|"
                    r"INFO: possible recursive locking|BUG: sleeping function called"),
        ("kasan", r"BUG: KASAN|KASAN:"),
        ("ubsan", r"UBSAN:"),
        ("oops", r"Oops|general protection fault|Unable to handle kernel|BUG: unable to handle"),
        ("bug", r"BUG:|kernel BUG at"),
        ("warning", r"WARNING:"),
        ("trace", r"Call [Tt]race:"),
    ))
#: kinds a busy host can cause in a TCG guest: the code is to blame only when
#: the trace is in it
STARVATION = frozenset({"soft lockup", "hard lockup", "rcu stall", "hung task", "panic"})
_END = re.compile(r"---\[ end (?:trace|Kernel panic)")
_FRAME = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+ \[(\w+)\]")
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
#: /proc/sys/kernel/tainted bit -> (letter, what set it)
TAINT_FLAGS = {
    0: ("P", "a proprietary module"), 1: ("F", "a forced module load"),
    2: ("S", "an SMP kernel on unsafe hardware"), 3: ("R", "a forced module unload"),
    4: ("M", "a machine check"), 5: ("B", "a bad page"), 6: ("U", "a user's request"),
    7: ("D", "the kernel died (Oops or BUG)"), 8: ("A", "an ACPI table override"),
    9: ("W", "a WARNING"), 10: ("C", "a staging driver"), 11: ("I", "a firmware bug workaround"),
    12: ("O", "an out-of-tree module"), 13: ("E", "an unsigned module"),
    14: ("L", "a soft lockup"), 15: ("K", "a live patch"), 16: ("X", "an auxiliary taint"),
    17: ("T", "a struct randomization plugin"), 18: ("N", "an in-kernel test"),
    19: ("J", "a userspace-written debug fs"),
}
#: set by loading our own out-of-tree, unsigned modules: expected
EXPECTED_TAINT = (1 << 12) | (1 << 13)
SOFT_LOCKUP_TAINT = 1 << 14


@dataclass
class Report:
    """One report the kernel printed."""

    kind: str
    headline: str
    lines: list[str] = field(default_factory=list)
    #: our modules named in its trace's frames
    ours: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def is_ours(module: str, modules: frozenset[str] = OUR_MODULES) -> bool:
    return module in modules or module.startswith(_OURS_PREFIX)


def reports(log: str, modules: frozenset[str] = OUR_MODULES) -> list[Report]:
    """The reports in a kernel @log (timestamps removed; console noise
    between them is left out)."""
    out: list[Report] = []
    current: Report | None = None
    for raw in log.splitlines():
        line = _TIMESTAMP.sub("", raw.rstrip("\r"))
        if _END.search(line):  # "---[ end Kernel panic - ...": an end, not a headline
            if current is not None:
                current.lines.append(line)
            current = None
            continue
        kind = next((k for k, pattern in _HEADLINES if pattern.search(line)), None)
        # a trace inside a report belongs to it; a new headline starts the next
        if kind is not None and not (kind == "trace" and current is not None):
            current = Report(kind, line.strip())
            out.append(current)
        if current is None:
            continue
        current.lines.append(line)
        if "Modules linked in:" not in line:
            current.ours |= {m for m in _FRAME.findall(line) if is_ours(m, modules)}
    return out


def blame(report: Report) -> Culprit:
    """code, unless a busy host could have caused it and our code is not in it."""
    return "tool" if report.kind in STARVATION and not report.ours else "code"


def taint_value(text: str) -> int | None:
    """/proc/sys/kernel/tainted as printed ("" or garbage: None)."""
    m = re.search(r"^\s*(\d+)\s*$", text, re.M)
    return int(m.group(1)) if m else None


def describe_taint(bits: int) -> str:
    """'W (a WARNING), D (the kernel died (Oops or BUG))'."""
    return ", ".join(f"{TAINT_FLAGS[b][0]} ({TAINT_FLAGS[b][1]})" if b in TAINT_FLAGS
                     else f"bit {b}" for b in range(32) if bits & (1 << b))


@dataclass
class Health:
    """The guard's verdict on one suite: None when the kernel stayed healthy."""

    status: Status              # FAIL or ERROR
    culprit: Culprit
    why: str
    trace: str = ""


def judge(log: str, taint_before: int | None, taint_after: int | None,
          modules: frozenset[str] = OUR_MODULES) -> Health | None:
    """The kernel's verdict on a suite from its kernel @log and the taint
    flags before and after it (see the module doc)."""
    found = reports(log, modules)
    code = [r for r in found if blame(r) == "code"]
    tool = [r for r in found if blame(r) == "tool"]
    new = 0
    if taint_before is not None and taint_after is not None:
        new = taint_after & ~taint_before & ~EXPECTED_TAINT
        if tool and not code:
            new &= ~SOFT_LOCKUP_TAINT  # the lockup already blamed on the tool
    if code:
        r = code[0]
        where = f" in {', '.join(sorted(r.ours))}" if r.ours else ""
        taint = f"; tainted {describe_taint(new)}" if new else ""
        return Health("FAIL", "code", f"kernel {r.kind}{where}: {r.headline}{taint}",
                      "\n\n".join(x.text for x in code[:5]))
    if new:
        return Health("FAIL", "code", f"kernel tainted {describe_taint(new)} during the suite",
                      log.strip()[-4000:])
    if tool:
        r = tool[0]
        return Health("ERROR", "tool", f"kernel {r.kind} outside CSE's modules (no cse frame "
                                       f"in its trace; a starved TCG guest?): {r.headline}",
                      "\n\n".join(x.text for x in tool[:5]))
    return None


def judge_death(console: str, why: str, modules: frozenset[str] = OUR_MODULES) -> Health:
    """The verdict on a suite during which the VM died or stopped answering
    (@why: how the run ended), from what its console printed meanwhile."""
    found = reports(console, modules)
    ours = [r for r in found if r.ours]
    if ours:
        r = ours[0]
        return Health("FAIL", "code", f"the VM died: kernel {r.kind} in "
                                      f"{', '.join(sorted(r.ours))}: {r.headline}",
                      "\n\n".join(x.text for x in ours[:5]))
    said = f": kernel {found[-1].kind}: {found[-1].headline}" if found else ""
    return Health("ERROR", "tool", f"the VM died or stopped answering ({why}){said}; no CSE "
                                   f"module in its trace (console kept)",
                  "\n\n".join(x.text for x in found[-3:]))
