"""The user-space build flavours of the C runtime, each a Meson build dir.

A flavour is a target (the toolchain: compiler, OS, arch, libc), a backend
and Meson options.  Those that a matrix cell can name (`cell_target`) map
from the cell's os, arch, libc, compiler and backend; the sanitizer builds
are test-only variants of `linux`.  `python -m testbed build [FLAVOUR...]`
builds them; with no name, the TESTED and BUILD_ONLY sets that `make test`
uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from testbed.toolchains import Runner, Toolchain, ToolMissing

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "build"

__all__ = ["BUILD_ROOT", "FLAVOURS", "ROOT", "BuildError", "Flavour", "ToolMissing"]


@dataclass(frozen=True)
class Flavour:
    """A named Meson configuration and the environment its binaries run with."""

    name: str
    meson_options: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    toolchain: Toolchain = Toolchain("gcc")
    #: False for test-only variants (sanitizers): no cell builds with them
    for_cells: bool = True

    @property
    def builddir(self) -> Path:
        return BUILD_ROOT / self.name

    @property
    def backend(self) -> str:
        for opt in self.meson_options:
            if opt.startswith("-Dplatform="):
                return opt.partition("=")[2]
        return "linux"

    def runner(self) -> Runner:
        """How this host runs the flavour's programs (toolchains.Toolchain.runner)."""
        return self.toolchain.runner()

    def command(self, program: Path | str, *args: str) -> tuple[list[str], dict[str, str]]:
        """argv and extra environment that run @program of this build here
        (under qemu-user for another architecture); ToolMissing if it cannot."""
        run = self.runner()
        if run.cannot:
            raise ToolMissing(run.cannot)
        return [*run.argv, str(program), *args], dict(self.env) | dict(run.env)


_SAN_ENV = (
    ("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66"),
    ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=66"),
    ("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1:exitcode=66"),
)
_NO_BENCH = "-Dbench=false"
_LINUX = ("-Dplatform=linux", _NO_BENCH)


def _zig(os_name: str, arch: str, libc: str) -> Toolchain:
    return Toolchain("zig", os=os_name, arch=arch, libc=libc)


FLAVOURS: dict[str, Flavour] = {
    f.name: f
    for f in (
        Flavour("linux", ("-Dplatform=linux",)),
        Flavour("emulated", ("-Dplatform=emulated",)),
        Flavour(
            "asan",
            ("-Dplatform=linux", "-Db_sanitize=address,undefined", "-Db_lundef=false", _NO_BENCH),
            _SAN_ENV, for_cells=False,
        ),
        # 32-bit user space (i386 ABI): the same chunk layout must hold.
        Flavour("m32", ("-Dplatform=linux", _NO_BENCH),
                toolchain=Toolchain("gcc", arch="i386", cflags=("-m32",))),
        Flavour(
            "tsan",
            ("-Dplatform=linux", "-Db_sanitize=thread", "-Db_lundef=false", _NO_BENCH),
            _SAN_ENV, for_cells=False,
        ),
        # Other compilers and C libraries on this host.
        Flavour("clang", _LINUX, toolchain=Toolchain("clang")),
        Flavour("musl", _LINUX, toolchain=Toolchain("musl", libc="musl")),
        Flavour("zig", _LINUX, toolchain=_zig("linux", "x86_64", "glibc")),
        # Other architectures, run under qemu-user; s390x and ppc64 are big-endian.
        Flavour("arm64", _LINUX, toolchain=_zig("linux", "arm64", "glibc")),
        Flavour("arm64-emulated", ("-Dplatform=emulated", _NO_BENCH),
                toolchain=_zig("linux", "arm64", "glibc")),
        Flavour("s390x", _LINUX, toolchain=_zig("linux", "s390x", "glibc")),
        # Debian has no big-endian ppc64 glibc: musl, linked statically (no
        # musl loader for ppc64 here)
        Flavour("ppc64", (*_LINUX, "-Ddefault_library=static"),
                toolchain=_zig("linux", "ppc64", "musl")),
        # FreeBSD 14, against its own headers and libc: built here, run elsewhere.
        Flavour("freebsd-x86_64", ("-Dplatform=freebsd", _NO_BENCH),
                toolchain=_zig("freebsd", "x86_64", "bsd")),
        Flavour("freebsd-arm64", ("-Dplatform=freebsd", _NO_BENCH),
                toolchain=_zig("freebsd", "arm64", "bsd")),
        Flavour("freebsd-emulated-x86_64", ("-Dplatform=emulated", _NO_BENCH),
                toolchain=_zig("freebsd", "x86_64", "bsd")),
    )
}

#: Flavours `make test` builds and runs every C suite of.
TESTED = ("linux", "emulated", "m32", "asan", "tsan", "clang", "musl", "arm64", "s390x",
          "ppc64")
#: Flavours `make test` builds for another OS, checks, and cannot run here.
BUILD_ONLY = ("freebsd-x86_64", "freebsd-arm64", "freebsd-emulated-x86_64")


class BuildError(RuntimeError):
    """Meson or ninja failed; the message carries the command's output tail."""


def flavour_for(os_name: str, arch: str, libc: str, compiler: str, backend: str) -> Flavour:
    """The flavour a cell with these keys builds; ValueError if there is none."""
    for f in FLAVOURS.values():
        t = f.toolchain
        if f.for_cells and (t.os, t.arch, t.libc, t.compiler, f.backend) == \
                (os_name, arch, libc, compiler, backend):
            return f
    known = "; ".join(f"{f.toolchain.os}/{f.toolchain.arch}/{f.toolchain.libc}/"
                      f"{f.toolchain.compiler}/{f.backend}" for f in FLAVOURS.values()
                      if f.for_cells)
    raise ValueError(f"no build flavour for {os_name}/{arch}/{libc}/{compiler} with backend "
                     f"{backend} (known os/arch/libc/compiler/backend: {known})")


def meson_command() -> list[str]:
    """Meson from this Python's environment (PyPI's, which drives zig), else PATH."""
    local = Path(sys.executable).parent / "meson"
    if local.exists():
        return [str(local)]
    found = shutil.which("meson")
    if found is None:
        raise ToolMissing("meson not found: run scripts/install-deps.sh")
    return [found]


#: in a build dir: how it was configured (the setup command and Meson's version)
SETUP_STAMP = ".cse-setup"


def _meson_version(meson: list[str]) -> str:
    try:
        return subprocess.run([*meson, "--version"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolMissing(f"cannot run {meson[0]}: {e}") from e


def steps(flavour: Flavour) -> list[tuple[list[str], dict[str, str]]]:
    """The commands (argv, extra environment) that configure @flavour (when
    its build dir is new, or was configured another way or by another Meson:
    then from scratch) and compile it, after checking its toolchain
    (ToolMissing)."""
    flavour.toolchain.preflight()
    meson, bdir = meson_command(), flavour.builddir
    args, env = flavour.toolchain.setup_args(bdir)
    setup = [*meson, "setup", str(bdir), *flavour.meson_options, *args]
    stamp = json.dumps({"setup": setup, "env": env, "meson": _meson_version(meson)})
    out = []
    if not (bdir / "build.ninja").exists() or _read(bdir / SETUP_STAMP) != stamp:
        shutil.rmtree(bdir, ignore_errors=True)
        out.append((setup, env))
        # written once setup succeeded (the step after it), see _stamp_step
        out.append((_stamp_step(bdir / SETUP_STAMP, stamp), {}))
    out.append(([*meson, "compile", "-C", str(bdir)], {}))
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stamp_step(path: Path, text: str) -> list[str]:
    """A command that writes @text to @path (a step, so that it runs only
    after a setup that succeeded)."""
    return [sys.executable, "-c", "import sys, pathlib; pathlib.Path(sys.argv[1])"
            ".write_text(sys.argv[2])", str(path), text]


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | env)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
        raise BuildError(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(tail))


def build(flavour: Flavour) -> Path:
    """Configure (once) and compile @flavour; return its build dir."""
    for cmd, env in steps(flavour):
        _run(cmd, env)
    return flavour.builddir


def main(names: list[str]) -> int:
    for name in names or [*TESTED, *BUILD_ONLY]:
        if name not in FLAVOURS:
            print(f"unknown build flavour {name!r}; known: {', '.join(FLAVOURS)}", file=sys.stderr)
            return 2
        print(f"build: {name} -> {FLAVOURS[name].builddir.relative_to(ROOT)}", flush=True)
        try:
            build(FLAVOURS[name])
        except (BuildError, ToolMissing) as e:
            print(e, file=sys.stderr)
            return 1
    return 0
