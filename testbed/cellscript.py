"""The POSIX sh script a cell runs, and how to read its output back.

A cell script is plain sh (dash, busybox, FreeBSD sh alike):

    echo CSE-CELL-START
    [build section]                 staged cells only: meson setup + compile
    one section per suite           each under `timeout`, KTAP inside
    echo CSE-CELL-DONE

Each section is delimited by section()'s markers and followed by a
line `CSE-RC-<name>=<exit status> <seconds>`: the exit status of `timeout`
(one of TIMEOUT_EXITS when it had to kill the suite) and how long the
section took.
The markers are read from the output the cell printed, so the same parsing
serves a local shell, a container, an ssh host and a VM console.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from testbed.matrix import Cell

CELL_START = "CSE-CELL-START"
CELL_DONE = "CSE-CELL-DONE"
#: seconds `timeout` waits after SIGTERM before it sends SIGKILL
KILL_GRACE_S = 10
#: where staged cells unpack and build the source (under the cell's /tmp)
STAGED_WORKDIR = PurePosixPath("/tmp/cse-cell")
CONFORMANCE = "tests/cse-conformance"

_RC = re.compile(r"^CSE-RC-(?P<name>[\w.+-]+)=(?P<rc>\d+) (?P<secs>-?\d+)\s*$", re.M)
_NAME = re.compile(r"^[\w.+-]+$")


def section(name: str, command: str) -> str:
    """Guest script lines that run @command with its output between markers."""
    return f"echo CSE-BEGIN-{name}\n{command}\necho CSE-END-{name}\n"


def between(output: str, name: str) -> str:
    """What a section() printed, from a VM's output ("" if it never ended)."""
    begin, end = f"CSE-BEGIN-{name}\n", f"\nCSE-END-{name}\n"
    b, e = output.rfind(begin), output.rfind(end)
    return output[b + len(begin):e] if 0 <= b < e else ""


def suite_section(name: str, command: str, timeout_s: int) -> str:
    """Script lines that run @command (a simple command: program and arguments)
    under `timeout @timeout_s`, between markers, then print its CSE-RC line.

    The bare `echo` ends a last line the command left unterminated (a suite
    killed mid-line), so the end marker is always on a line of its own.
    """
    if not _NAME.match(name):
        raise ValueError(f"section name {name!r}: use letters, digits, '.', '+', '-', '_'")
    if timeout_s <= 0:
        raise ValueError(f"suite timeout must be positive, not {timeout_s}")
    body = (f"cse_t0=$(date +%s)\n"
            f"timeout -k {KILL_GRACE_S} {timeout_s} {command}\n"
            f"cse_rc=$?\n"
            f"echo")
    return (section(name, body) +
            f'echo "CSE-RC-{name}=$cse_rc $(( $(date +%s) - cse_t0 ))"\n')


def env_prefix(env: Mapping[str, str]) -> str:
    """`env K=V ... ` in front of a command, or "" when there is nothing to set."""
    if not env:
        return ""
    return shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " "


def uu_command(builddir: Path | PurePosixPath, env: Mapping[str, str] | None = None,
               prefix: Sequence[str] = ()) -> str:
    """The U-U suite: the conformance client starts its own two user servers.
    @prefix goes in front of the program (an emulator: qemu-aarch64)."""
    return env_prefix(env or {}) + shlex.join([*prefix, str(builddir / CONFORMANCE)])


def meson_options(cell: Cell) -> list[str]:
    """Meson options a staged cell configures with (host cells use a flavour)."""
    opts = [f"-Dplatform={cell.backend}", "-Dbench=false"]
    if cell.arch == "i386":
        opts += ["-Dc_args=-m32", "-Dc_link_args=-m32"]
    return opts


#: printed by a staged cell's build when its toolchain is not usable, then
#: the build exits 127: ERROR culprit tool, never a code FAIL
TOOLCHAIN_MISSING = "CSE-TOOLCHAIN-MISSING"


def toolchain_preflight(cell: Cell) -> str:
    """sh that checks the staged cell's build tools (meson, ninja, tar, the C
    compiler) and compiles a program including what the runtime includes;
    prints TOOLCHAIN_MISSING and what is wrong, and exits 127, if not."""
    check = "#include <pthread.h>\n" + \
        ("#include <linux/types.h>\n" if cell.os == "linux" else "#include <sys/socket.h>\n") + \
        "int main(void){return 0;}\n"
    cflags = " -m32" if cell.arch == "i386" else ""
    return "\n".join([
        "for t in meson ninja tar cc; do command -v $t >/dev/null || "
        f"{{ echo \"{TOOLCHAIN_MISSING}: no $t in the cell\"; exit 127; }}; done",
        f"printf {shlex.quote(check)} > /tmp/cse-preflight.c",
        f"cc{cflags} -pthread /tmp/cse-preflight.c -o /tmp/cse-preflight || "
        f"{{ echo \"{TOOLCHAIN_MISSING}: cc{cflags} cannot build a program with the C library "
        f"and kernel headers\"; exit 127; }}",
    ])


#: the meson targets (and kernel/linux make targets) a suite runs, for a
#: cell that builds only those (Provisioner.lean_build); None: everything
SUITE_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]] | None] = {
    "uu": (("cse-conformance",), ()),
    "uk": (("cse-conformance",), ("modules",)),
    "kk": ((), ("modules",)),
    "ku": (("cse-conf-helper",), ("modules",)),
    "kv": None,
}


def lean_targets(suites: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(meson targets, kernel make targets) that @suites need, or None when
    one of them needs the whole build."""
    meson: dict[str, None] = {}
    make: dict[str, None] = {}
    for s in suites:
        if s == "build":
            continue
        want = SUITE_TARGETS.get(s)
        if want is None:
            return None
        meson |= dict.fromkeys(want[0])
        make |= dict.fromkeys(want[1])
    return tuple(meson) or ("cse-conformance",), tuple(make)


def build_section(cell: Cell, workdir: PurePosixPath, timeout_s: int,
                  modules: bool = False,
                  targets: tuple[tuple[str, ...], tuple[str, ...]] | None = None) -> str:
    """Check the toolchain, unpack workdir/src.tar and build it with meson
    in workdir/build; with @modules (a VM of its own kernel) the kernel
    modules too, in workdir/kernel, against the running kernel's headers.
    @targets (lean_targets()): only those meson and make targets.

    Stops the script (after CSE-CELL-DONE) when the build fails: its suites
    cannot run, and the runner reports the build's output.
    """
    src, bdir = workdir / "src", workdir / "build"
    steps = " && ".join([
        f"{{ {toolchain_preflight(cell)}\n}}",
        f"rm -rf {shlex.quote(str(src))} {shlex.quote(str(bdir))} "
        f"{shlex.quote(str(workdir / 'kernel'))}",
        f"mkdir -p {shlex.quote(str(src))}",
        f"tar -xf {shlex.quote(str(workdir / 'src.tar'))} -C {shlex.quote(str(src))}",
        shlex.join(["meson", "setup", str(bdir), str(src), *meson_options(cell)]),
        shlex.join(["meson", "compile", "-C", str(bdir), *(targets[0] if targets else ())]),
        *([module_build(src, workdir / "kernel", targets[1] if targets else ())]
          if modules else []),
    ])
    return (suite_section("build", f"sh -c {shlex.quote(steps)}", timeout_s) +
            f'[ "$cse_rc" = 0 ] || {{ echo {CELL_DONE}; exit 1; }}\n')


def module_build(src: PurePosixPath, out: PurePosixPath, targets: tuple[str, ...] = ()) -> str:
    """Build the kernel modules (testbed/kbuild.py's MODULES; with @targets,
    those make targets of kernel/linux) from the source tree @src into @out,
    for the kernel the cell runs, with its headers."""
    return (f'make -C {shlex.quote(str(src / "kernel/linux"))} KVER="$(uname -r)" '
            f'KDIR="/lib/modules/$(uname -r)/build" OUT={shlex.quote(str(out))}'
            + "".join(f" {shlex.quote(t)}" for t in targets))


def cell_script(sections: list[str], build: str = "") -> str:
    """The whole script: start marker, optional build, the sections, done marker."""
    return f"echo {CELL_START}\n{build}{''.join(sections)}echo {CELL_DONE}\n"


@dataclass
class SectionRun:
    """What one section of a cell script printed.

    begun/ended: its markers were seen; text is what it printed (up to the
    end of the output when it never ended); returncode and elapsed_s come
    from its CSE-RC line (None when it never ended).
    """

    name: str
    begun: bool
    ended: bool
    text: str
    returncode: int | None = None
    elapsed_s: int | None = None


def read_section(output: str, name: str) -> SectionRun:
    """The run of section @name in a cell's @output (the last one, if repeated)."""
    begin = f"CSE-BEGIN-{name}\n"
    start = output.rfind(begin)
    if start < 0:
        return SectionRun(name, False, False, "")
    text = between(output, name)
    ended = f"\nCSE-END-{name}\n" in output[start:]
    if not ended:
        text = output[start + len(begin):]
    rc = elapsed = None
    for m in _RC.finditer(output, start):
        if m["name"] == name:
            rc, elapsed = int(m["rc"]), int(m["secs"])
            break
    return SectionRun(name, True, ended, text, rc, elapsed)


def last_begun(output: str) -> str | None:
    """The name of the last section that began in @output (for progress)."""
    found = re.findall(r"^CSE-BEGIN-([\w.+-]+)$", output, re.M)
    return found[-1] if found else None
