"""Kernels of other Debian releases, in a chroot of their release.

A kernel whose release is not this host's (bullseye's 5.10 was built with
gcc 10, trixie's with 14, sid's with 16) needs its release's compiler and
kbuild tools to build modules for it.  mmdebstrap makes a chroot of the
release holding the kernel image and its modules, its headers (which bring
the gcc they name in CC), make, kmod and sparse, and testbed.cache keeps it:

    ~/.cache/cse/kernels/<suite>-<kernel>-<arch>-<digest>/
        boot/vmlinuz-<release>             booted by virtme-ng
        lib/modules/<release>/             the guest's modules (9p, virtio, ...)
        usr/src/linux-headers-<release>/   KDIR for `make` in the chroot

Which kernel is "the" 5.10 or sid's newest is looked up in the release's own
package lists when the kernel is prepared (ABI numbers change: 5.10.0-46
today), through testbed.debpkg, whose lists are refreshed at most once a
day.  The package names and versions found are the cache key: a second run
with the same answer downloads nothing, and a new upload builds a new entry.

virtme-ng finds the guest's modules itself: for an image under a folder
that has lib/modules (the chroot), it uses <that folder>/lib/modules/<release>.

The image is installed normally, except that update-initramfs is diverted to
/bin/true: the guest boots virtme-ng's own initramfs, and generating Debian's
costs a minute and 50 MB for nothing.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed import cache, debpkg
from testbed.kmake import ChrootMake, Kernel
from testbed.provision.qemu.kernels import NEWEST, FetchError, KernelSpec, Say, version_key
from testbed.provision.qemu.vm import INSTALL_HINT

KIND = "kernels"
#: besides the kernel and its headers (which bring their gcc)
TOOLS = ("make", "kmod", "sparse")
MMDEBSTRAP_TIMEOUT_S = 1800
#: what the chroot need not keep (mmdebstrap --dpkgopt)
_EXCLUDE = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*",
            "/usr/share/info/*")
#: the guest boots virtme-ng's initramfs: Debian's would only cost time
_NO_INITRAMFS = ('chroot "$1" dpkg-divert --quiet --local --rename --divert '
                 '/usr/sbin/update-initramfs.cse --add /usr/sbin/update-initramfs && '
                 'ln -s /bin/true "$1/usr/sbin/update-initramfs"')


@dataclass(frozen=True)
class Packages:
    """The kernel of a spec as its release offers it today."""

    release: str
    image: str      # name=version
    headers: str    # name=version


def resolve(spec: KernelSpec) -> Packages:
    """The newest kernel of @spec in its release's package lists."""
    arch = debpkg.DEB_ARCH[spec.arch]
    names = debpkg.resolve("^linux-image-[0-9]", spec.suite, arch)
    releases = [n.removeprefix("linux-image-") for n in names]
    releases = sorted((r for r in releases if spec.matches(r)), key=version_key)
    if not releases:
        what = "kernel" if spec.series == NEWEST else f"{spec.name} kernel"
        raise FetchError(f"{spec.suite} ({arch}) has no {what} in its package lists "
                         f"({debpkg.debian_mirror()})")
    release = releases[-1]
    image, headers = f"linux-image-{release}", f"linux-headers-{release}"
    return Packages(release, f"{image}={debpkg.candidate(image, spec.suite, arch)}",
                    f"{headers}={debpkg.candidate(headers, spec.suite, arch)}")


def mmdebstrap_argv(spec: KernelSpec, pkgs: Packages, target: Path) -> list[str]:
    """The mmdebstrap command that makes @spec's chroot in @target (the
    suite's sources on stdin: debpkg.sources())."""
    argv = ["mmdebstrap", "--mode=root", "--variant=apt",
            f"--arch={debpkg.DEB_ARCH[spec.arch]}",
            f"--include={','.join((*TOOLS, pkgs.image, pkgs.headers))}",
            f"--essential-hook={_NO_INITRAMFS}",
            *(f"--dpkgopt=path-exclude={p}" for p in _EXCLUDE)]
    if spec.suite in ("sid", "unstable"):
        # the mirrors here may serve a frozen snapshot of sid
        argv.append('--aptopt=Acquire::Check-Valid-Until "false"')
    return [*argv, spec.suite, str(target), "-"]


def _layout(root: Path, release: str) -> tuple[Path, Path, Path]:
    """vmlinuz, headers and modules of @release in the chroot @root."""
    return (root / "boot" / f"vmlinuz-{release}", root / "usr/src" / f"linux-headers-{release}",
            root / "lib/modules" / release)


def _build(spec: KernelSpec, pkgs: Packages, log: Path, tmp: Path) -> None:
    argv = mmdebstrap_argv(spec, pkgs, tmp)
    sources = debpkg.sources(spec.suite, debpkg.DEB_ARCH[spec.arch], debpkg.debian_mirror())
    with log.open("a") as f:
        f.write(f"$ {shlex.join(argv)}\n{sources}")
        f.flush()
        try:
            proc = subprocess.run(argv, input=sources.encode(), stdout=f,
                                  stderr=subprocess.STDOUT, timeout=MMDEBSTRAP_TIMEOUT_S)
        except FileNotFoundError as e:
            raise FetchError(f"mmdebstrap not found: {INSTALL_HINT}", log) from e
        except subprocess.TimeoutExpired as e:
            raise FetchError(f"mmdebstrap {spec.suite} did not finish in "
                             f"{MMDEBSTRAP_TIMEOUT_S} s (log: {log})", log) from e
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-15:])
        raise FetchError(f"mmdebstrap {spec.suite} failed ({proc.returncode}); log: {log}\n"
                         f"{tail}", log)
    missing = [str(p.relative_to(tmp)) for p in _layout(tmp, pkgs.release) if not p.exists()]
    if missing:
        raise FetchError(f"the {spec.label} chroot has no {', '.join(missing)} (log: {log})",
                         log)


def _kernel(spec: KernelSpec, root: Path, release: str) -> Kernel:
    vmlinuz, headers, modules = _layout(root, release)
    return Kernel(release, vmlinuz, headers, arch=spec.arch, modules=modules,
                  make=ChrootMake(root))


def _last_cached(spec: KernelSpec) -> Kernel | None:
    """The newest whole chroot of @spec in the cache, if any."""
    found = []
    for path in cache.entries(KIND):
        name, _, digest = path.name.rpartition("-")
        vmlinuz = list((path / "boot").glob("vmlinuz-*"))
        if name == spec.label and len(vmlinuz) == 1 and cache.problem(path, digest) is None:
            found.append((path.stat().st_mtime, path, vmlinuz[0].name.removeprefix("vmlinuz-")))
    if not found:
        return None
    _, root, release = max(found)
    return _kernel(spec, root, release)


def prepare(spec: KernelSpec, say: Say | None = None) -> Kernel:
    """@spec's kernel in its chroot, made first when not cached.  When the
    release's lists cannot be read (the mirror is down), the chroot of the
    last lookup that worked, if it is cached."""
    try:
        pkgs = resolve(spec)
    except debpkg.DebError as e:
        last = _last_cached(spec)
        if last is None:
            raise FetchError(f"the {spec.suite} package lists cannot be read, and no "
                             f"{spec.name} kernel of it is cached: {e}") from e
        if say:
            say(f"cannot look up the {spec.label} kernel ({str(e).splitlines()[0]}); "
                f"using the cached {last.vmlinuz}")
        return last
    # The recipe is the command that makes the chroot (packages and versions
    # included) and the suites it reads: the mirror is not part of it.
    arch = debpkg.DEB_ARCH[spec.arch]
    recipe = [mmdebstrap_argv(spec, pkgs, Path("TARGET")),
              debpkg.sources(spec.suite, arch, "MIRROR")]
    entry = cache.Entry(KIND, spec.label, cache.digest(recipe))
    try:
        root = cache.ensure(entry, lambda tmp: _build(spec, pkgs, entry.log, tmp), say)
    except OSError as e:
        raise FetchError(f"cannot make the {spec.label} chroot in {entry.path}: {e}",
                         entry.log) from e
    return _kernel(spec, root, pkgs.release)
