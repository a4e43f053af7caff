"""What a build produced, checked against its target: every executable and
library Meson says it built exists and is an ELF file of the target's
architecture, byte order and OS.  A cross build that silently fell back to
the host compiler, or a target that built nothing, fails here.

Read from the ELF header (and, for FreeBSD, the program interpreter or the C
library's soname), so nothing beyond Python is needed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

#: e_machine values (elf.h)
MACHINES = {3: "i386", 62: "x86_64", 183: "arm64", 22: "s390x", 21: "ppc64"}
#: matrix arch -> (ELF class bits, byte order)
_LAYOUT = {"x86_64": (64, "little"), "i386": (32, "little"), "arm64": (64, "little"),
           "s390x": (64, "big"), "ppc64": (64, "big")}
_BUILT = ("executable", "shared library", "static library")


@dataclass(frozen=True)
class ElfInfo:
    bits: int
    endian: str
    arch: str
    os: str      # "freebsd" when FreeBSD's loader or libc is named, else "linux"


def read(path: Path) -> ElfInfo | None:
    """The ELF facts of @path, or None if it is not an ELF file."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or len(data) < 20:
        return None
    bits = {1: 32, 2: 64}.get(data[4], 0)
    endian = {1: "little", 2: "big"}.get(data[5], "?")
    fmt = "<H" if endian == "little" else ">H"
    machine = struct.unpack_from(fmt, data, 18)[0]
    # FreeBSD's: the OS ABI byte, or (zig leaves it SYSV) its program
    # interpreter, or its C library's soname among the needed libraries
    freebsd = data[7] == 9 or b"/libexec/ld-elf.so.1\x00" in data or b"libc.so.7\x00" in data
    return ElfInfo(bits, endian, MACHINES.get(machine, f"machine {machine}"),
                   "freebsd" if freebsd else "linux")


def built_files(builddir: Path) -> list[Path]:
    """The executables and libraries Meson's introspection lists for @builddir."""
    intro = builddir / "meson-info" / "intro-targets.json"
    targets = json.loads(intro.read_text())
    return sorted({Path(f) for t in targets if t.get("type") in _BUILT
                   for f in t.get("filename", [])})


def problems(builddir: Path, arch: str, os_name: str) -> list[str]:
    """Why the build in @builddir is not a complete build for @arch/@os_name
    (empty when it is).  Static libraries are archives, not ELF: only their
    presence is checked."""
    try:
        files = built_files(builddir)
    except (OSError, ValueError) as e:
        return [f"cannot read Meson's list of targets: {e}"]
    if not files:
        return ["Meson lists no built targets"]
    bits, endian = _LAYOUT[arch]
    out = []
    for f in files:
        if not f.exists():
            out.append(f"{f.name}: missing")
            continue
        if f.suffix == ".a":
            continue
        info = read(f)
        if info is None:
            out.append(f"{f.name}: not an ELF file")
        elif (info.bits, info.endian, info.arch, info.os) != (bits, endian, arch, os_name):
            out.append(f"{f.name}: {info.os}/{info.arch} {info.bits}-bit {info.endian}-endian, "
                       f"expected {os_name}/{arch} {bits}-bit {endian}-endian")
    return out
