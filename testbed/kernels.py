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

from dataclasses import dataclass
from typing import Literal

Source = Literal["host", "chroot", "debs"]


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

    @property
    def suite(self) -> str:
        """The Debian suite ("bookworm")."""
        return self.image.partition(":")[2]


KERNELS: tuple[KernelSpec, ...] = (
    KernelSpec("debian:bookworm", "6.1", "", "x86_64", "host"),
    KernelSpec("debian:bookworm", "6.12", "", "x86_64", "host"),
    # arm64: Debian's arm64 kernels and headers (testbed/kernel_debs.py) and
    # the cross gcc they were built with (testbed/crossgcc.py), booted under TCG
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
