"""The compilers a build flavour uses, and how its programs run here.

One host builds every user-space target, without any cross gcc package
(Debian 12's gcc-<arch>-linux-gnu packages remove gcc-multilib, and with it
the i386 build):

    gcc      the host's gcc (x86_64; -m32 for i386, through gcc-multilib)
    clang    Debian's clang, linking with lld
    musl     Debian's musl-gcc; the kernel's UAPI headers, which musl-gcc does
             not search, through an -isystem folder of links
    zig      `python -m ziglang cc -target <triple>` (PyPI's ziglang, in the
             venv): other architectures and FreeBSD 14, against the target's
             own libc headers, through a Meson cross file

A program built for this machine runs as it is; one for another Linux
architecture runs under qemu-user (Debian's qemu-user, no binfmt_misc: the
emulator is named on the command line, and for the programs our tests
spawn in $CSE_TEST_EXEC_WRAPPER), with a glibc sysroot from Debian's
packages (testbed.debpkg, cached); a FreeBSD program cannot run here.

Each toolchain checks itself first (`preflight`): a missing compiler or
system header is the machine's fault (ERROR, culprit tool), never the code's.
"""

from __future__ import annotations

import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from testbed import cache, debpkg

#: matrix arch -> (meson cpu_family, endian, qemu-user emulator, zig arch)
ARCH_INFO = {
    "x86_64": ("x86_64", "little", "qemu-x86_64", "x86_64"),
    "i386": ("x86", "little", "qemu-i386", "x86"),
    "arm64": ("aarch64", "little", "qemu-aarch64", "aarch64"),
    "s390x": ("s390x", "big", "qemu-s390x", "s390x"),
    "ppc64": ("ppc64", "big", "qemu-ppc64", "powerpc64"),
}
OS_NAMES = {"linux": "Linux", "freebsd": "FreeBSD"}
#: the host's machine name -> matrix arch
_HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64",
              "s390x": "s390x", "ppc64": "ppc64"}
#: the Debian release whose glibc the qemu-user sysroots take
SYSROOT_SUITE = "bookworm"
SYSROOT_PACKAGES = ("libc6", "libgcc-s1")
#: what a Linux target's check program includes: the C library, threads, and
#: the kernel's UAPI types the runtime uses (a -m32 build without
#: gcc-multilib's asm links fails on the last one, not on an empty program)
_CHECK_LINUX = "#include <pthread.h>\n#include <linux/types.h>\nint main(void){return 0;}\n"
_CHECK_POSIX = "#include <pthread.h>\n#include <sys/socket.h>\nint main(void){return 0;}\n"
INSTALL_HINT = "run scripts/install-deps.sh"


class ToolMissing(RuntimeError):
    """A build tool or system header is missing (ERROR culprit tool, not a code FAIL)."""


def host_arch() -> str:
    return _HOST_ARCH.get(platform.machine(), platform.machine())


@dataclass(frozen=True)
class Runner:
    """How this machine runs a flavour's programs: `argv` in front of the
    program and `env` for it; or `cannot` says why it cannot run them."""

    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cannot: str | None = None


@dataclass(frozen=True)
class Toolchain:
    """A compiler for one target (os, arch, libc) and the way to run its output.

    kind is gcc, clang, musl or zig; zig builds through a cross file, the
    others natively with @cc.  @cflags go to Meson as c_args (and link args).
    """

    kind: str
    os: str = "linux"
    arch: str = "x86_64"
    libc: str = "glibc"
    cflags: tuple[str, ...] = field(default=())

    # --- what the matrix calls it ---------------------------------------------------
    @property
    def compiler(self) -> str:
        """The matrix's compiler value (musl-gcc is gcc on musl)."""
        return "gcc" if self.kind == "musl" else self.kind

    @property
    def zig_target(self) -> str:
        zarch = ARCH_INFO[self.arch][3]
        if self.os == "freebsd":
            return f"{zarch}-freebsd"
        return f"{zarch}-linux-{'gnu' if self.libc == 'glibc' else 'musl'}"

    @property
    def cross(self) -> bool:
        """Built with a Meson cross file (another OS or architecture)."""
        return self.kind == "zig" and (self.os != "linux" or self.arch != host_arch())

    # --- building ----------------------------------------------------------------------
    def cc(self) -> list[str]:
        """The C compiler command."""
        if self.kind == "zig":
            return [sys.executable, "-m", "ziglang", "cc", "-target", self.zig_target]
        return [{"gcc": "gcc", "clang": "clang", "musl": "musl-gcc"}[self.kind]]

    def c_args(self) -> list[str]:
        args = list(self.cflags)
        if self.kind == "musl":
            args += ["-isystem", str(musl_uapi_dir())]
        return args

    def link_args(self) -> list[str]:
        args = list(self.cflags)
        if self.kind == "clang":
            args.append("-fuse-ld=lld")
        return args

    def cross_file(self) -> str:
        """The Meson cross file of a zig build."""
        cpu, endian, _, _ = ARCH_INFO[self.arch]
        zig = [sys.executable, "-m", "ziglang"]
        lines = ["[binaries]",
                 f"c = {[*zig, 'cc', '-target', self.zig_target]!r}",
                 f"ar = {[*zig, 'ar']!r}",
                 f"strip = {[*zig, 'objcopy', '--strip-all']!r}",
                 "[host_machine]",
                 f"system = '{self.os}'",
                 f"cpu_family = '{cpu}'",
                 f"cpu = '{cpu}'",
                 f"endian = '{endian}'"]
        return "\n".join(lines) + "\n"

    def setup_args(self, builddir: Path) -> tuple[list[str], dict[str, str]]:
        """Meson setup arguments and environment for a build in @builddir
        (writes the cross file beside it)."""
        env: dict[str, str] = {}
        args = []
        if self.cross:
            path = builddir.parent / f"{builddir.name}.cross.ini"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.cross_file())
            args.append(f"--cross-file={path}")
        else:
            env["CC"] = shlex.join(self.cc())
        if c := self.c_args():
            args.append(f"-Dc_args={shlex.join(c)}")
        if link := self.link_args():
            args.append(f"-Dc_link_args={shlex.join(link)}")
        return args, env

    def preflight(self) -> None:
        """Compile and link a small program that needs what the runtime needs;
        ToolMissing with the compiler's words when that fails."""
        if self.kind != "zig" and shutil.which(self.cc()[0]) is None:
            raise ToolMissing(f"{self.cc()[0]} not found: {INSTALL_HINT}")
        if self.kind == "clang" and shutil.which("ld.lld") is None:
            raise ToolMissing(f"ld.lld not found (clang links with lld): {INSTALL_HINT}")
        source = _CHECK_LINUX if self.os == "linux" else _CHECK_POSIX
        with tempfile.TemporaryDirectory(prefix="cse-preflight-") as tmp:
            src = Path(tmp) / "check.c"
            src.write_text(source)
            cmd = [*self.cc(), *self.c_args(), *self.link_args(), "-pthread", str(src),
                   "-o", str(Path(tmp) / "check")]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise ToolMissing(f"{self.describe()}: cannot run {cmd[0]}: {e}") from e
        if proc.returncode:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise ToolMissing(f"{self.describe()} cannot build a program with pthread.h"
                              f"{' and linux/types.h' if self.os == 'linux' else ''} "
                              f"({INSTALL_HINT}):\n{tail}")

    def describe(self) -> str:
        return f"{self.kind} for {self.os}/{self.arch}/{self.libc}"

    # --- running -----------------------------------------------------------------------
    def runner(self) -> Runner:
        """How this host runs the programs (fetches a sysroot when needed)."""
        if self.os != "linux" or platform.system() != "Linux":
            name = OS_NAMES.get(self.os, self.os)
            return Runner(cannot=f"built only: this host runs {platform.system()}, not {name} "
                                 f"(a vagrant or ssh cell runs it on a {name} host)")
        native = host_arch()
        if self.arch == native or (self.arch == "i386" and native == "x86_64"):
            return Runner()
        emulator = shutil.which(ARCH_INFO[self.arch][2])
        if emulator is None:
            return Runner(cannot=f"{ARCH_INFO[self.arch][2]} (Debian's qemu-user) is not "
                                 f"installed: {INSTALL_HINT}")
        env = [("CSE_TEST_EXEC_WRAPPER", emulator)]
        if self.libc == "glibc":
            env.append(("QEMU_LD_PREFIX", str(glibc_sysroot(self.arch))))
        return Runner(argv=(emulator,), env=tuple(env))


def musl_uapi_dir() -> Path:
    """A folder of links to this host's kernel UAPI headers (linux/, asm/,
    asm-generic/), which musl-gcc's own include path leaves out (cached)."""
    multiarch = Path("/usr/include") / f"{platform.machine()}-linux-gnu"
    links = {"linux": "/usr/include/linux", "asm-generic": "/usr/include/asm-generic",
             "asm": str(multiarch / "asm")}
    entry = cache.Entry("toolchains", "musl-uapi", cache.digest(links, Path(__file__)))

    def build(tmp: Path) -> None:
        for name, target in links.items():
            (tmp / name).symlink_to(target)

    return cache.ensure(entry, build)


def glibc_sysroot(arch: str) -> Path:
    """Debian's glibc for @arch, unpacked (cached): QEMU_LD_PREFIX of qemu-user."""
    deb_arch = debpkg.DEB_ARCH[arch]
    recipe = {"suite": SYSROOT_SUITE, "arch": deb_arch, "packages": SYSROOT_PACKAGES}
    entry = cache.Entry("sysroots", f"glibc-{deb_arch}-{SYSROOT_SUITE}",
                        cache.digest(recipe, Path(__file__)))

    def build(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="cse-debs-") as debs:
            got = debpkg.download(list(SYSROOT_PACKAGES), suite=SYSROOT_SUITE, arch=deb_arch,
                                  dest=Path(debs))
            debpkg.extract(got, tmp)

    try:
        return cache.ensure(entry, build)
    except debpkg.DebError as e:
        raise ToolMissing(f"cannot fetch the {arch} glibc for qemu-user: {e}") from e
