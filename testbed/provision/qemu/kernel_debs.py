"""Kernels of another architecture from Debian packages (testbed.provision.qemu.kernels
source "debs"): image and headers downloaded, never installed, unpacked into
the per-user cache, with the cross gcc to build modules for them.

    k = kernel_debs.ensure(spec)    # a vm.Kernel whose make is a HostMake with ARCH= and
                                    # CROSS_COMPILE= (testbed/kbuild.py runs it)

What one entry (kernels/<release>-<digest>/) holds:
  boot/vmlinuz-<release>, config, System.map     from linux-image-<release> (the
                                                 image named by testbed.provision.qemu.devices)
  usr/src/linux-headers-<release>                from linux-headers-<release>
  usr/src/linux-headers-<...>-common             its -common package
  usr/lib/linux-kbuild-<version>                 linux-kbuild-<version> of the HOST
                                                 arch: fixdep, modpost, ... run here
The release is what the Debian metapackage of the series depends on today
(linux-image-6.12-arm64, else linux-image-arm64 when its kernel is of the
series); the kbuild package is pinned to the headers' exact version.

The unpacked tree is made self-consistent: the flavour's Makefile includes
the -common Makefile by an absolute /usr/src path (rewritten relative to
itself, so the entry works wherever the cache is), 6.12's .kernelvariables
forces CROSS_COMPILE=aarch64-linux-gnu- from PATH (dropped: the build passes
the cached cross gcc's prefix), and lib/modules/<release>/{build,source} are
absolute links (made relative).  The image package's modules are not
unpacked: the guest loads only ours.
"""

from __future__ import annotations

import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed import cache, debpkg
from testbed.kmake import HostMake, Kernel
from testbed.provision.qemu import crossgcc, devices
from testbed.provision.qemu.kernels import KernelSpec

#: a Debian kernel's version in its release: "6.1.0-57", "6.12.117+deb12"
_VERSION = re.compile(r"^\d+(\.\d+)+(-\d+|\+[a-z]+\d+)?$")
#: what `make ARCH=` calls a Debian arch
KERNEL_ARCH = {"arm64": "arm64", "s390x": "s390", "ppc64el": "powerpc"}


class KernelDebError(RuntimeError):
    """The kernel or its headers could not be fetched or prepared."""


@dataclass(frozen=True)
class Packages:
    """The packages of one kernel release, as resolved from the archive."""

    release: str
    image: str
    headers: tuple[str, ...]      # flavour headers and -common (target arch)
    kbuild: str                   # name=version (host arch)


def _deb_arch(spec: KernelSpec) -> str:
    return debpkg.DEB_ARCH[spec.arch]


def _flavour_suffix(spec: KernelSpec) -> str:
    """"arm64" or "rt-arm64": the tail of Debian's package names."""
    deb_arch = _deb_arch(spec)
    return f"{spec.flavour}-{deb_arch}" if spec.flavour else deb_arch


def metapackages(spec: KernelSpec) -> list[str]:
    """The image metapackages that may name @spec's newest kernel, most specific first."""
    tail = _flavour_suffix(spec)
    return [f"linux-image-{spec.series}-{tail}", f"linux-image-{tail}"]


def release_of(image_package: str, spec: KernelSpec) -> str | None:
    """The release an image package installs ("linux-image-6.1.0-57-arm64" ->
    "6.1.0-57-arm64"), if it is of @spec's series and flavour."""
    release = image_package.removeprefix("linux-image-")
    suffix = f"-{_flavour_suffix(spec)}"
    if release == image_package or not release.endswith(suffix):
        return None
    # the rest is the version alone ("6.1.0-57", "6.12.117+deb12"), not
    # "6.1.0-57-cloud" or "6.1.0-57-rt" of another flavour
    version = release.removesuffix(suffix)
    if not _VERSION.match(version) or not version.startswith(f"{spec.series}."):
        return None
    return release


def resolve(spec: KernelSpec) -> Packages:
    """The newest kernel of @spec in its Debian release, and its packages."""
    deb_arch = _deb_arch(spec)
    release = None
    for meta in metapackages(spec):
        for dep in debpkg.depends(meta, spec.suite, deb_arch):
            release = release_of(dep, spec)
            if release:
                break
        if release:
            break
    if release is None:
        raise KernelDebError(f"no {spec.name} kernel for {deb_arch} in {spec.suite}: none of "
                             f"{', '.join(metapackages(spec))} depends on one")
    headers = f"linux-headers-{release}"
    deps = debpkg.depends(headers, spec.suite, deb_arch)
    common = [d for d in deps if d.startswith("linux-headers-")]
    kbuild = [d for d in deps if d.startswith("linux-kbuild-")]
    if not kbuild:
        raise KernelDebError(f"{headers} ({spec.suite}, {deb_arch}) names no linux-kbuild "
                             f"package: {deps}")
    return Packages(release, f"linux-image-{release}", (headers, *common), kbuild[0])


def deb_version(deb: Path) -> str:
    """The version in a .deb's file name (name_version_arch.deb, epoch as %3a)."""
    parts = deb.name.split("_")
    if len(parts) != 3:
        raise KernelDebError(f"{deb.name}: not a name_version_arch.deb file name")
    return parts[1].replace("%3a", ":")


def fix_tree(root: Path, release: str) -> None:
    """Make the unpacked headers work from @root (see the module doc)."""
    src = root / "usr/src"
    makefile = src / f"linux-headers-{release}" / "Makefile"
    text = makefile.read_text()
    fixed = re.sub(r"^include /usr/src/", "include $(dir $(lastword $(MAKEFILE_LIST)))../",
                   text, flags=re.M)
    if fixed == text:
        raise KernelDebError(f"{makefile}: no absolute include of the common headers found")
    makefile.write_text(fixed)
    kvars = makefile.with_name(".kernelvariables")
    if kvars.exists():
        kvars.write_text(re.sub(r"^override CROSS_COMPILE = .*\n", "", kvars.read_text(),
                                flags=re.M))
    for link in (root / "lib/modules").glob("*/*"):
        target = str(Path(link.readlink())) if link.is_symlink() else ""
        if target.startswith("/"):
            rel = Path(*[".."] * (len(link.relative_to(root).parts) - 1), target.lstrip("/"))
            link.unlink()
            link.symlink_to(rel)
    outside = [p for p in root.rglob("*") if p.is_symlink() and str(p.readlink()).startswith("/")]
    if outside:
        raise KernelDebError(f"absolute links left in the unpacked kernel: {outside[:5]}")


def _extract_boot(deb: Path, root: Path) -> None:
    """Only ./boot of the image package: its modules are not needed."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                          stdout=subprocess.PIPE) as dpkg:
        tar = subprocess.run(["tar", "-x", "-C", str(root), "./boot"], stdin=dpkg.stdout,
                             capture_output=True, text=True, timeout=600)
    if dpkg.returncode or tar.returncode:
        raise KernelDebError(f"unpacking ./boot of {deb.name} failed: {tar.stderr.strip()}")


def _build(tmp: Path, spec: KernelSpec, pkgs: Packages) -> None:
    deb_arch = _deb_arch(spec)
    debs = tmp / "debs"
    image_deb, = debpkg.download([pkgs.image], suite=spec.suite, arch=deb_arch, dest=debs)
    headers = debpkg.download(list(pkgs.headers), suite=spec.suite, arch=deb_arch, dest=debs)
    # the host's kbuild of the headers' exact version: its programs run here
    version = deb_version(next(d for d in headers if d.name.startswith(f"{pkgs.headers[0]}_")))
    kbuild = debpkg.download([f"{pkgs.kbuild}={version}"], suite=spec.suite,
                             arch=debpkg.DEB_ARCH[platform.machine()], dest=debs)
    _extract_boot(image_deb, tmp)
    debpkg.extract(headers + kbuild, tmp)
    for deb in debs.iterdir():
        deb.unlink()
    debs.rmdir()
    fix_tree(tmp, pkgs.release)
    image = devices.for_arch(spec.arch).image_name(pkgs.release)
    if not (tmp / "boot" / image).is_file():
        raise KernelDebError(f"{pkgs.image} has no /boot/{image}")


def ensure(spec: KernelSpec) -> Kernel:
    """@spec's kernel and headers in the cache (fetched first if needed), and
    the way make builds modules for it: with the cached cross gcc."""
    if spec.source != "debs":
        raise KernelDebError(f"{spec.image} {spec.name} {spec.arch} is not a debs kernel")
    try:
        pkgs = resolve(spec)
        recipe = {"image": pkgs.image, "headers": pkgs.headers, "kbuild": pkgs.kbuild,
                  "suite": spec.suite, "host": platform.machine()}
        entry = cache.Entry("kernels", pkgs.release, cache.digest(recipe, Path(__file__)))
        root = cache.ensure(entry, lambda tmp: _build(tmp, spec, pkgs))
    except debpkg.DebError as e:
        raise KernelDebError(f"cannot fetch the {spec.name} {spec.arch} kernel: {e}") from e
    headers = root / "usr/src" / f"linux-headers-{pkgs.release}"
    major = crossgcc.gcc_major((headers / ".config").read_text())
    prefix = crossgcc.ensure(_deb_arch(spec), major)
    image = devices.for_arch(spec.arch).image_name(pkgs.release)
    make = HostMake((f"ARCH={KERNEL_ARCH[_deb_arch(spec)]}", f"CROSS_COMPILE={prefix}"))
    return Kernel(pkgs.release, root / "boot" / image, headers, arch=spec.arch,
                  modules=root / "lib/modules" / pkgs.release, make=make)
