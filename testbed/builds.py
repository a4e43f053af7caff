"""The user-space build flavours of the C runtime, each a Meson build dir."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "build"


@dataclass(frozen=True)
class Flavour:
    """A named Meson configuration and the environment its binaries run with."""

    name: str
    meson_options: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def builddir(self) -> Path:
        return BUILD_ROOT / self.name


_SAN_ENV = (
    ("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66"),
    ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=66"),
    ("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1:exitcode=66"),
)

FLAVOURS: dict[str, Flavour] = {
    f.name: f
    for f in (
        Flavour("linux", ("-Dplatform=linux",)),
        Flavour("emulated", ("-Dplatform=emulated",)),
        Flavour(
            "asan",
            ("-Dplatform=linux", "-Db_sanitize=address,undefined", "-Db_lundef=false",
             "-Dbench=false"),
            _SAN_ENV,
        ),
        # 32-bit user space (i386 ABI): the same chunk layout must hold.
        Flavour("m32", ("-Dplatform=linux", "-Dc_args=-m32", "-Dc_link_args=-m32",
                        "-Dbench=false")),
        Flavour(
            "tsan",
            ("-Dplatform=linux", "-Db_sanitize=thread", "-Db_lundef=false", "-Dbench=false"),
            _SAN_ENV,
        ),
    )
}

#: Flavours `make run` reports on: the two user-space backends.
BACKENDS = ("linux", "emulated")


class BuildError(RuntimeError):
    """Meson or ninja failed; the message carries the command's output tail."""


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
        raise BuildError(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(tail))


def build(flavour: Flavour) -> Path:
    """Configure (once) and compile @flavour; return its build dir."""
    meson = shutil.which("meson")
    if meson is None:
        raise BuildError("meson not found: run scripts/install-deps.sh (or make test)")
    bdir = flavour.builddir
    if not (bdir / "build.ninja").exists():
        _run([meson, "setup", str(bdir), *flavour.meson_options])
    _run([meson, "compile", "-C", str(bdir)])
    return bdir


def main(names: list[str]) -> int:
    for name in names or list(FLAVOURS):
        if name not in FLAVOURS:
            print(f"unknown build flavour {name!r}; known: {', '.join(FLAVOURS)}", file=sys.stderr)
            return 2
        print(f"build: {name} -> {FLAVOURS[name].builddir.relative_to(ROOT)}", flush=True)
        try:
            build(FLAVOURS[name])
        except BuildError as e:
            print(e, file=sys.stderr)
            return 1
    return 0
