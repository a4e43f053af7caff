"""The kernels a qemu cell may boot, as data (like tuxrun's devices).

A kernel is named by the Debian release it comes from (the cell's `image`),
its series and flavour (the cell's `kernel`: "6.12", "6.12-rt", or "newest"
for the canary) and its architecture (the cell's `arch`):

    qemu-debian13-6.12-rt-x86_64:  image debian:trixie, kernel "6.12-rt", arch x86_64

Each KernelSpec says where the kernel, its headers and the compiler that
builds modules for it come from (`source`):

    host     Debian packages installed on this machine by
             scripts/install-vm-deps.sh (bookworm's own kernels)
    chroot   a chroot of the release made with mmdebstrap, holding the
             kernel, its headers and the release's own gcc (the compiler
             the kernel was built with), cached in the per-user cache
    debs     packages of another architecture fetched with a private APT
             configuration (testbed.debpkg) and a cross compiler

matrix.py validates a qemu cell against this table, so a kernel that no code
can fetch is an error when the matrix loads, not a cell that fails later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from testbed.debpkg import DEB_ARCH
from testbed.kmake import Kernel
from testbed.provision.qemu.vm import INSTALL_HINT, debian_kernels

Source = Literal["host", "chroot", "debs"]
NEWEST = "newest"


class FetchError(RuntimeError):
    """A kernel could not be fetched or prepared (mirror, mmdebstrap, a
    missing package): ERROR with culprit tool, never a test FAIL.  @log is
    the fetch's log when there is one."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class KernelSpec:
    """One bootable kernel: where it comes from and how to name it."""

    #: the Debian release, as a matrix image ("debian:bookworm")
    image: str
    #: "6.1", "6.12", "5.10", or "newest" (whatever the release ships now)
    series: str
    #: "" (the generic kernel) or "rt" (PREEMPT_RT)
    flavour: str
    #: matrix arch: x86_64, arm64
    arch: str
    source: Source

    @property
    def name(self) -> str:
        """The matrix's `kernel` value: series, and "-rt" for the rt flavour."""
        return f"{self.series}-{self.flavour}" if self.flavour else self.series

    #: tests/test_kernel.py boots it in `make test` (the others: `make run`)
    in_make_test: bool = False

    @property
    def suite(self) -> str:
        """The Debian suite ("bookworm")."""
        return self.image.partition(":")[2]

    @property
    def label(self) -> str:
        """A short unique name: "bullseye-5.10-x86_64" (cache entries, test ids)."""
        return f"{self.suite}-{self.name}-{self.arch}"

    def matches(self, release: str) -> bool:
        """Whether @release ("6.1.0-57-rt-amd64") is a kernel of this spec:
        its series (any for "newest"), flavour and architecture."""
        m = _RELEASE.match(release)
        if m is None:
            return False
        series, flavour, arch = m["series"], m["flavour"] or "", m["arch"]
        return (self.series in (NEWEST, series) and flavour == self.flavour
                and arch == DEB_ARCH[self.arch])


#: A Debian kernel release: 5.10.0-46-amd64, 6.1.0-57-rt-amd64,
#: 6.12.117+deb13-amd64, 7.2.13+deb14-amd64 (not -cloud-, -dbg, -unsigned)
_RELEASE = re.compile(r"^(?P<version>(?P<series>\d+\.\d+)[^-]*(?:-\d+)?)"
                      r"-(?:(?P<flavour>rt)-)?(?P<arch>[a-z0-9]+)$")


def version_key(release: str) -> tuple[int, ...]:
    """Sort key of a release: its numbers in order (6.12.117 > 6.12.96)."""
    return tuple(int(n) for n in re.findall(r"\d+", release))


KERNELS: tuple[KernelSpec, ...] = (
    # bookworm's own two, installed by scripts/install-vm-deps.sh
    KernelSpec("debian:bookworm", "6.1", "", "x86_64", "host", in_make_test=True),
    KernelSpec("debian:bookworm", "6.12", "", "x86_64", "host", in_make_test=True),
    # The others come in chroots of their release (testbed.provision.qemu.kchroot), built
    # with the release's own gcc.  bookworm's rt kernel too, though the
    # host's gcc would do: installing it here would put an rt kernel, its
    # initramfs and a boot menu entry on the user's machine; a chroot in the
    # cache changes nothing outside it.
    KernelSpec("debian:bullseye", "5.10", "", "x86_64", "chroot", in_make_test=True),
    KernelSpec("debian:bookworm", "6.1", "rt", "x86_64", "chroot"),
    KernelSpec("debian:trixie", "6.12", "", "x86_64", "chroot"),
    KernelSpec("debian:trixie", "6.12", "rt", "x86_64", "chroot"),
    # the canary: whatever sid ships today
    KernelSpec("debian:sid", NEWEST, "", "x86_64", "chroot"),
    # arm64: Debian's arm64 kernels and headers (testbed/provision/qemu/kernel_debs.py) and
    # the cross gcc they were built with (testbed/provision/qemu/crossgcc.py), booted under TCG
    KernelSpec("debian:bookworm", "6.1", "", "arm64", "debs"),
    KernelSpec("debian:bookworm", "6.12", "", "arm64", "debs"),
)


def find(image: str | None, name: str, arch: str) -> KernelSpec | None:
    """The kernel a cell names (@image, @name as in the matrix, @arch)."""
    for spec in KERNELS:
        if (spec.image, spec.name, spec.arch) == (image, name, arch):
            return spec
    return None


def known(arch: str | None = None) -> list[str]:
    """"image kernel arch" of every kernel (of @arch), for error messages."""
    return [f"{s.image} {s.name} {s.arch}" for s in KERNELS if arch in (None, s.arch)]


Say = Callable[[str], None]


def host_kernel(spec: KernelSpec, root: Path = Path("/")) -> Kernel | None:
    """The newest kernel of @spec installed under @root with its headers."""
    found = [k for k in debian_kernels(root) if spec.matches(k.release)]
    return found[-1] if found else None


def prepare(spec: KernelSpec, say: Say | None = None, root: Path = Path("/")) -> Kernel:
    """The Kernel of @spec, fetched first when it is not here (cached: see
    testbed.provision.qemu.kchroot).  @root: where host kernels are looked for.  Raises
    FetchError, whose message says why and what to do."""
    if spec.source == "host":
        kernel = host_kernel(spec, root)
        if kernel is None:
            raise FetchError(f"no {spec.name} kernel of {spec.image} with headers is "
                             f"installed: {INSTALL_HINT}")
        return kernel
    # imported here: the matrix loads this table, and needs none of these
    if spec.source == "chroot":
        from testbed.provision.qemu import kchroot
        return kchroot.prepare(spec, say)
    from testbed.provision.qemu import crossgcc, kernel_debs
    try:
        return kernel_debs.ensure(spec)
    except (kernel_debs.KernelDebError, crossgcc.ToolchainError) as e:
        raise FetchError(str(e)) from e
