"""A kernel to build modules for (Kernel), and how `make` runs for it: on
this host, or inside the chroot of the kernel's own Debian release (its gcc,
its kbuild tools), with the variables the kernel needs (ARCH=, CROSS_COMPILE=
for another architecture).

    runner = ChrootMake(root)          # or HostMake(("ARCH=arm64", ...))
    argv = runner.argv(["-C", src, f"KDIR={runner.path(headers)}"], binds=(src, out))

A chroot build sees the @binds (the source tree, the output folder) at their
host paths, so the symlinks kernel/linux/Makefile makes into the output
folder resolve the same inside and out.  It runs in a private mount
namespace (`unshare --mount`): the bind mounts, /dev and the /proc objtool
needs vanish with the namespace however make ends (killed at its timeout
included), and neither this host nor the cached chroot keeps a mount.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: the exit status of the namespace's setup failing (make exits 0, 1 or 2)
SETUP_FAILED = 125
#: what the setup's failure message starts with
SETUP_TAG = "cse-chroot-make:"

#: Runs as `sh -c` in the new mount namespace: $1 the chroot, $2 the number
#: of binds, then the binds, then the command.  Nothing unmounts by hand: the
#: mounts end with the namespace, when make does, however it ends.  (The bind
#: points made in the chroot stay behind, as empty folders.)
_IN_NAMESPACE = f"""
fail() {{ echo "{SETUP_TAG} $*" >&2; exit {SETUP_FAILED}; }}
root=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do
	mkdir -p "$root$1" && mount --bind "$1" "$root$1" || fail "cannot bind $1 into $root"
	shift; n=$((n - 1))
done
mount -t proc proc "$root/proc" || fail "cannot mount /proc in $root"
mount --bind /dev "$root/dev" || fail "cannot bind /dev into $root"
[ -x "$root/usr/bin/$1" ] || fail "$root has no /usr/bin/$1"
exec chroot "$root" /usr/bin/env -i PATH={_PATH} HOME=/root LC_ALL=C.UTF-8 "$@"
"""


@dataclass(frozen=True)
class HostMake:
    """make on this host (its gcc, the kernel's headers installed here)."""

    #: make variables for every call: ARCH=..., CROSS_COMPILE=...
    variables: tuple[str, ...] = ()

    def path(self, host_path: Path) -> Path:
        """The path make sees for @host_path: the same."""
        return host_path

    def argv(self, args: list[str], *, binds: tuple[Path, ...] = ()) -> list[str]:
        """The command running make with @args (@binds: already visible)."""
        del binds
        return ["make", *self.variables, *args]

    def shown(self, args: list[str]) -> str:
        """argv() as a person reads it in a log."""
        return shlex.join(self.argv(args))


@dataclass(frozen=True)
class ChrootMake:
    """make inside @root, a Debian release's chroot (testbed.provision.qemu.kchroot)."""

    root: Path
    variables: tuple[str, ...] = ()

    def path(self, host_path: Path) -> Path:
        """The path make sees for @host_path: inside the chroot for a file of
        it (the kernel's headers), else the same (a bind mount)."""
        try:
            return Path("/") / host_path.relative_to(self.root)
        except ValueError:
            return host_path

    def argv(self, args: list[str], *, binds: tuple[Path, ...] = ()) -> list[str]:
        """The command running make with @args in the chroot, @binds (host
        folders, absolute) mounted at their own paths inside it."""
        folders: list[Path] = []
        for b in sorted(Path(p).resolve() for p in binds):
            if not any(b.is_relative_to(f) for f in folders):  # covered by a parent
                folders.append(b)
        return ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", _IN_NAMESPACE, "cse-chroot-make", str(self.root),
                str(len(folders)), *map(str, folders), "make", *self.variables, *args]

    def shown(self, args: list[str]) -> str:
        """argv() as a person reads it in a log (without the namespace script)."""
        return shlex.join(["chroot", str(self.root), "make", *self.variables, *args])


Make = HostMake | ChrootMake


@dataclass(frozen=True)
class Kernel:
    """A kernel to boot and to build modules for (testbed.provision.qemu.kernels prepares one
    from its table): its release, image, headers, own modules and the way
    `make` runs for it.  Paths are this host's; `make.path()` says how make
    sees them."""

    release: str
    vmlinuz: Path
    #: the headers' folder (KDIR)
    headers: Path
    #: matrix arch (x86_64, arm64)
    arch: str = "x86_64"
    #: the kernel's own modules (lib/modules/<release>: 9p, virtio, ...); the
    #: guest gets them from beside the image (vng_modules_dir())
    modules: Path | None = None
    #: how make runs for it: on this host, or in its release's chroot
    make: Make = HostMake()

    @property
    def modules_dir(self) -> Path:
        return self.modules or Path("/lib/modules") / self.release
