"""The kv suite: the kvstore example (examples/kvstore), a module written once,
run in every direction with the same test script, whose transcripts must be
identical (and equal examples/kvstore/transcript.ktap).

One section "kv" (one command under `timeout`), holding one section per
direction, in this order:
  kv-uu  kvstore-server (a process)  <- kvstore-client (a process)
  kv-uk  kvstore.ko                  <- the same kvstore-client binary
  kv-kk  kvstore.ko                  <- kvstore_client.ko
  kv-ku  kvstore-server (a process)  <- kvstore_client.ko
A user client prints its KTAP on stderr (the module log of env.h): it is in
its section.  A kernel client prints it to the kernel log, which `dmesg -c`
prints in the section dmesg-kv-<direction> (and dmesg-kv-uk holds what U-K
logged), so a kernel complaint is seen where it happened.  Outside a VM
only kv-uu runs.  The kernel directions need cse.ko loaded, which the guest
script of testbed.kernel_suites does around them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from testbed import ktap
from testbed.builds import ROOT
from testbed.cellscript import between, env_prefix
from testbed.kernel_suites import STEP_FAILED, complaints, strip_timestamps

DIRECTIONS = ("uu", "uk", "kk", "ku")
#: directions whose transcript is in the kernel log
IN_KERNEL_LOG = ("kk", "ku")
SERVER = "examples/kvstore/kvstore-server"
CLIENT = "examples/kvstore/kvstore-client"
MODULES = ("kvstore/kvstore.ko", "kvstore/kvstore_client.ko")
#: the server ids of the user and the kernel kvstore; the user one has the
#: script's pid ($$, expanded by sh), so runs side by side on one host do not
#: meet (local cells of `cse run -j 2`, pytest workers)
USER_ID, KERNEL_ID = "kv-user-$$", "kv-kernel"
#: directions with a user server, which must exit 0 when stopped
USER_SERVER = ("uu", "ku")
SERVER_EXIT = "kvstore-server exit status"
_SERVER_EXIT = re.compile(rf"^{SERVER_EXIT} (\d+)$", re.M)
#: the transcript every direction must print
GOLDEN = ROOT / "examples/kvstore/transcript.ktap"
_KTAP_LINE = re.compile(r"^(KTAP version \d+|1\.\.\d+|ok \d+ |not ok \d+ |# )")


def _sub(name: str, body: str) -> str:
    return f"echo CSE-BEGIN-{name}\n{body}\necho CSE-END-{name}\n"


def script(builddir: Path | PurePosixPath, moddir: Path | None = None,
           prefix: Sequence[str] = (), env: Mapping[str, str] | None = None) -> str:
    """The sh body of the kv section: kv-uu, and with @moddir (in a VM, cse.ko
    loaded) the three kernel directions.  @prefix (an emulator) and @env go
    in front of the user programs."""
    server, client = (env_prefix(env or {}) + shlex.join([*prefix, str(builddir / p)])
                      for p in (SERVER, CLIENT))

    def step(command: str, what: str) -> str:
        return f"{command} || echo {STEP_FAILED} {shlex.quote(what)}"

    # a user server must also stop cleanly (a sanitizer reports at exit)
    stop_server = f'kill $srv; wait $srv; echo "{SERVER_EXIT} $?"'
    uu = (f"{server} {USER_ID} 2>&1 & srv=$!\n"
          f"{client} {USER_ID} 2>&1\n"
          f"{stop_server}")
    parts = [_sub("kv-uu", uu)]
    if moddir is not None:
        kv, kvc = (shlex.quote(str(moddir / m)) for m in MODULES)
        parts += [
            _sub("kv-uk", f"{step(f'insmod {kv} server_id={KERNEL_ID}', 'insmod kvstore')}\n"
                          f"{client} {KERNEL_ID} 2>&1"),
            _sub("dmesg-kv-uk", "dmesg -c"),
            _sub("kv-kk", f"insmod {kvc} server_id={KERNEL_ID}\n"
                          f"{step('rmmod kvstore_client', 'rmmod kvstore_client (kk)')}"),
            _sub("dmesg-kv-kk", "dmesg -c"),
            # the user server registers with cse.ko for kernel clients
            _sub("kv-ku", f"{server} {USER_ID} 2>&1 & srv=$!\n"
                          f"insmod {kvc} server_id={USER_ID}\n"
                          f"{step('rmmod kvstore_client', 'rmmod kvstore_client (ku)')}\n"
                          f"{stop_server}"),
            _sub("dmesg-kv-ku", "dmesg -c"),
            step("rmmod kvstore", "rmmod kvstore"),
        ]
    return "".join(parts)


def command(builddir: Path | PurePosixPath, moddir: Path | None = None,
            prefix: Sequence[str] = (), env: Mapping[str, str] | None = None) -> str:
    """The kv suite as one command, for cellscript.suite_section()."""
    return f"sh -c {shlex.quote(script(builddir, moddir, prefix, env))}"


def _lines(text: str) -> list[str]:
    """A transcript's KTAP lines, from the first "KTAP version" on (kernel log
    timestamps and everything else removed: server and runtime messages)."""
    out: list[str] = []
    for raw in strip_timestamps(text).splitlines():
        line = raw.rstrip()
        if line.startswith("KTAP version"):
            out = []
        if (out or line.startswith("KTAP version")) and _KTAP_LINE.match(line + " "):
            out.append(line)
    return out


def transcripts(text: str, directions: Sequence[str] = DIRECTIONS) -> dict[str, list[str]]:
    """direction -> its transcript's lines, from the kv section's @text."""
    out = {}
    for d in directions:
        where = f"dmesg-kv-{d}" if d in IN_KERNEL_LOG else f"kv-{d}"
        out[d] = _lines(between(text + "\n", where))
    return out


def golden() -> list[str]:
    return _lines(GOLDEN.read_text())


def kernel_complaints(text: str, direction: str) -> list[str]:
    """WARNING / BUG / Oops lines in a direction's kernel log."""
    return complaints(between(text + "\n", f"dmesg-kv-{direction}"))


def first_difference(got: list[str], want: list[str]) -> str:
    """Where two transcripts part, as a line for a report ("" when equal)."""
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"line {i + 1}: {g!r}, want {w!r}"
    if len(got) != len(want):
        return f"{len(got)} lines, want {len(want)}"
    return ""


def ktap_text(text: str, directions: Sequence[str] = DIRECTIONS) -> str:
    """The kv suite's result as one KTAP stream (for the runner's judge):
    every case of every direction as "<direction>/<case>", a failing
    "<direction>/transcript" when a direction's run stopped short or the
    kernel complained, "<direction>/server_exit" where a user server ran
    (it exited 0 when stopped), and "transcripts_identical" (every
    direction printed the golden transcript)."""
    want = golden()
    got = transcripts(text, directions)
    lines: list[str] = []
    differ: list[str] = []
    n = 0

    def result(ok: bool, name: str, diag: Sequence[str] = ()) -> None:
        nonlocal n
        n += 1
        lines.extend(f"# {d}" for d in diag)
        lines.append(f"{'ok' if ok else 'not ok'} {n} {name}")

    for d in directions:
        run = ktap.parse("\n".join(got[d]))
        for case in run.cases:
            result(case.status != "fail", f"{d}/{case.name}", case.diagnostics)
        bad = kernel_complaints(text, d)
        if not run.complete or bad:
            why = (f"{len(run.cases)} of {run.planned} cases reported" if not run.complete
                   else f"kernel complained: {bad[0]}")
            result(False, f"{d}/transcript", [why])
        if d in USER_SERVER:
            exits = _SERVER_EXIT.findall(between(text + "\n", f"kv-{d}"))
            result(exits == ["0"], f"{d}/server_exit",
                   [] if exits == ["0"] else [f"kvstore-server exit status: {exits or 'none'}"])
        if diff := first_difference(got[d], want):
            differ.append(f"{d}: {diff}")
    result(not differ, "transcripts_identical", differ)
    return f"KTAP version 1\n1..{n}\n" + "\n".join(lines) + "\n"


def items() -> list[str]:
    """The kv suite's results, as ktap_text() names them: each case of the
    golden transcript in each direction, and the transcripts' equality."""
    cases = [c.name for c in ktap.parse("\n".join(golden())).cases]
    return [f"{d}/{c}" for d in DIRECTIONS
            for c in (*cases, *(["server_exit"] if d in USER_SERVER else []))] + \
        ["transcripts_identical"]


def item_result(text: str, item: str) -> tuple[bool, str]:
    """(passed, why not) of one of items() from the kv section's @text (of a
    VM: every direction)."""
    run = ktap.parse(ktap_text(text))
    case = run.by_name().get(item)
    if case is None:  # its direction stopped short: that direction's transcript case says why
        stopped = run.by_name().get(item.split("/")[0] + "/transcript")
        return False, f"{item} not reported: " + (
            "\n".join(stopped.diagnostics) if stopped else text[-3000:] or "no kv section")
    return case.status == "pass", "\n".join(case.diagnostics)
