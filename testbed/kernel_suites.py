"""The kernel suites in a VM: one guest script, shared by tests/test_kernel.py
and the runner's qemu cells, and how to read their results back.

In one boot, after `dmesg -C`:
  cse.ko is loaded;
  kk   cse_conformance.ko is loaded, which runs every conformance scenario as
       a kernel client against its kernel servers and prints KTAP to the
       kernel log; it is then removed;
  uk   cse_conformance.ko is reloaded with run_kk=0 (servers only) and the
       user-space conformance client (and, in tests/test_kernel.py, more user
       programs) runs against it through /dev/cse;
  ku   kernel clients of user servers: two user conformance servers start,
       and cse_conformance.ko is reloaded as their kernel client (KTAP in
       the kernel log; see ku_command);
  kv   the kvstore example in all four directions (testbed.kvsuite);
then the modules are removed.  After each suite `dmesg -c` prints (and
clears) the kernel log it produced, in a section "dmesg-<suite>", so a kernel
WARNING is blamed on the suite that caused it, and the kernel's taint flags
in a section "taint-<suite>" (testbed/kernel_health.py judges both); the
unload's log is in the last sections, "dmesg" and "taint-unload".  A step that
fails prints "CSE-STEP-FAILED <what>".
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from testbed.builds import FLAVOURS
from testbed.cellscript import CONFORMANCE, read_section, section, suite_section, uu_command

KERNEL_SUITES = ("kk", "uk", "ku")
STEP_FAILED = "CSE-STEP-FAILED"
#: the kernel servers cse_conformance.ko starts (inline and worker execution)
KERNEL_SERVERS = ("kconf-inline", "kconf-worker")
#: What the kernel prints when it is unhappy; none may appear.  (x86 says
#: "Call Trace:", arm64 "Call trace:".)
BAD = re.compile(r"WARNING:|BUG:|Oops|Call [Tt]race|general protection|KASAN|UBSAN")
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")

#: user-space programs run against the kernel servers, each printing KTAP:
#: name -> (build flavour, binary, arguments).  The runner's uk suite is the
#: first; tests/test_kernel.py runs them all.
UK_RUNS = {
    "uk": ("linux", CONFORMANCE, "--kernel-servers " + " ".join(KERNEL_SERVERS)),
    "uk32": ("m32", CONFORMANCE, "--kernel-servers " + " ".join(KERNEL_SERVERS)),
    # hostile user space: a client scribbling its chunk, and bad or random ioctls
    "uk-hostile": ("linux", "tests/unit/test-hostile", "--server kconf-inline"),
    "uk-fuzz": ("linux", "tests/unit/test-dev-fuzz", "--server kconf-inline"),
}

# --- K-U: kernel clients of user servers ---
#: the user conformance servers the kernel client of the ku suite reaches
KU_SERVERS = ("uconf-inline", "uconf-worker")
#: the user server that abuses its kernel clients (tests/test_kernel.py)
KU_HOSTILE_SERVER = "uconf-hostile"
KU_HOSTILE_ROUNDS = 3


#: how long reload_conformance_with waits for its peers' ready files
READY_WAIT_S = 300


def reload_conformance_with(moddir: Path, peers: list[str], params: str,
                            ready: tuple[str, ...] = ()) -> str:
    """One command (for `timeout`): start the user @peers (commands) in the
    background, reload cse_conformance.ko with @params so it runs as their
    kernel client, stop them.  Its status is the insmod's.  @ready: files
    the peers create once they serve, waited for (at most READY_WAIT_S)
    before the module loads, for peers slower to start than its 5 s connect
    wait (a Python server under TCG).  (PIDs are kept by hand: a
    non-interactive dash has no job list for `jobs -p`.)"""
    mod = shlex.quote(str(moddir / "cse_conformance.ko"))
    starts = "".join(f'{cmd} & pids="$pids $!"\n' for cmd in peers)
    waits = "".join(f"i=0; while [ ! -e {shlex.quote(f)} ] && [ $i -lt {2 * READY_WAIT_S} ]; "
                    "do sleep 0.5; i=$((i+1)); done\n" for f in ready)
    body = (f"{starts}{waits}\nrmmod cse_conformance\ninsmod {mod} run_kk=0 {params}\n"
            "rc=$?\nkill $pids 2>/dev/null\nwait\nexit $rc\n")
    return f"sh -c {shlex.quote(body)}"


def ku_command(moddir: Path, builddir: Path) -> str:
    """The ku suite: two user conformance servers from @builddir, and the
    module reloaded as their kernel client (server_death spawns its own user
    server through the usermode helper).  Runs after the uk runs with the
    servers module loaded, which it leaves loaded; KTAP in the kernel log."""
    helper = shlex.quote(str(builddir / "tests" / "cse-conf-helper"))
    inline, worker = KU_SERVERS
    peers = [f"{helper} server {inline}", f"{helper} server {worker} --worker"]
    return reload_conformance_with(
        moddir, peers, f"ku_inline={inline} ku_worker={worker} helper={helper}")


def ku_hostile_command(moddir: Path, builddir: Path) -> str:
    """K-U against a user server that abuses its kernel clients
    (test-ku-hostile-server); KTAP in the kernel log, one case per abuse."""
    server = shlex.quote(str(builddir / "tests" / "unit" / "test-ku-hostile-server"))
    return reload_conformance_with(
        moddir, [f"{server} {KU_HOSTILE_SERVER} {KU_HOSTILE_ROUNDS}"],
        f"hostile_server={KU_HOSTILE_SERVER} hostile_rounds={KU_HOSTILE_ROUNDS}")


#: suites whose KTAP the kernel prints (read from their dmesg-<suite> section)
KTAP_IN_KERNEL_LOG = frozenset({"kk", "ku", "ku-hostile"})
# --- end of K-U ---


def uk_command(builddir: Path, env: dict[str, str] | None = None) -> str:
    """The runner's uk suite: the conformance client of @builddir against the
    kernel servers (cse-conformance --kernel-servers kconf-inline kconf-worker)."""
    return f"{uu_command(builddir, env)} {UK_RUNS['uk'][2]}"


def uk_commands(names: tuple[str, ...] = tuple(UK_RUNS)) -> dict[str, str]:
    """name -> guest command for the UK_RUNS @names, with host build paths."""
    out = {}
    for name in names:
        flavour, binary, args = UK_RUNS[name]
        out[name] = f"{shlex.quote(str(FLAVOURS[flavour].builddir / binary))} {args}"
    return out


def taint(name: str) -> str:
    """Script lines printing the kernel's taint flags in section taint-@name."""
    return section(f"taint-{name}", "cat /proc/sys/kernel/tainted")


def after_suite(name: str) -> str:
    """What follows every suite in a VM: its kernel log, then the taint flags."""
    return section(f"dmesg-{name}", "dmesg -c") + taint(name)


def guest_script(moddir: Path, *, kk: bool, uk_runs: dict[str, str], ku: str | None = None,
                 kv: str | None = None, timeout_s: int = 600) -> str:
    """The guest script lines for the kernel suites (see the module doc).

    @uk_runs: section name -> command run against the kernel servers; @ku:
    the K-U command (ku_command()), or None when the cell has no ku suite;
    @kv: the kv suite's command (testbed.kvsuite), run last with cse.ko
    loaded; @timeout_s: per suite section (the kv section gets twice that).
    """
    mod = f"{shlex.quote(str(moddir))}/"

    def step(command: str, what: str) -> str:
        return f"{command} || echo {STEP_FAILED} {what}\n"

    lines = ["dmesg -C\n", step(f"insmod {mod}cse.ko", "insmod cse")]
    if kk:
        lines += [suite_section("kk", f"insmod {mod}cse_conformance.ko", timeout_s),
                  f'[ "$cse_rc" = 0 ] || echo {STEP_FAILED} insmod cse_conformance\n',
                  step("rmmod cse_conformance", "rmmod cse_conformance"),
                  after_suite("kk")]
    runs = dict(uk_runs) | ({"ku": ku} if ku is not None else {})
    if runs:
        lines.append(step(f"insmod {mod}cse_conformance.ko run_kk=0", "insmod servers"))
        for name, command in runs.items():
            lines += [suite_section(name, command, timeout_s), after_suite(name)]
        lines.append(step("rmmod cse_conformance", "rmmod servers"))
    if kv is not None:
        # the kv suite is four full runs of its script (U-U, U-K, K-K, K-U):
        # under TCG of another architecture one direction takes minutes
        lines += [suite_section("kv", kv, 2 * timeout_s), after_suite("kv")]
    lines += [step("rmmod cse", "rmmod cse"), section("dmesg", "dmesg -c"), taint("unload")]
    return "".join(lines)


def strip_timestamps(log: str) -> str:
    """Kernel log lines without their "[   12.345678] " prefix."""
    return "\n".join(_TIMESTAMP.sub("", line) for line in log.splitlines())


def kernel_log(output: str) -> str:
    """The whole kernel log of a guest run: its dmesg sections, in order."""
    names = re.findall(r"^CSE-BEGIN-(dmesg(?:-[\w.+-]+)?)$", output, re.M)
    parts = []
    for name in names:
        sec = read_section(output, name)
        if sec.ended:
            parts.append(sec.text.rstrip("\n"))
    return "\n".join(p for p in parts if p)


def kernel_ktap(log: str) -> str:
    """The KTAP a module printed in a kernel @log (timestamps removed)."""
    text = strip_timestamps(log)
    return text[text.find("KTAP version 1"):] if "KTAP version 1" in text else ""


def complaints(log: str) -> list[str]:
    """The kernel log's WARNING / BUG / Oops ... lines (timestamps removed)."""
    return [line for line in strip_timestamps(log).splitlines() if BAD.search(line)]


def failed_steps(output: str) -> list[str]:
    """The guest script's CSE-STEP-FAILED lines."""
    return [line.strip() for line in output.splitlines() if STEP_FAILED in line]
