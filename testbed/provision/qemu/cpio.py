"""A cpio archive in the "newc" format, the one the kernel unpacks as an
initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).

Written in Python so that building a guest's root needs no root privileges:
ownership (root), modes and device nodes are just numbers in the headers.

    a = Archive()
    a.add_file("init", script.encode(), 0o755)
    a.add_node("dev/console", 5, 1)
    data = a.finish()

The kernel creates no parent folders while unpacking, so every add_*() adds
the missing parents first.  Archives may be concatenated (the kernel unpacks
each in turn): a cached base and a small per-boot part make one initramfs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def entry(name: str, mode: int, data: bytes = b"", *, ino: int, nlink: int = 1,
          rdev: tuple[int, int] = (0, 0), mtime: int = 0) -> bytes:
    """One newc header, name and data, each padded to 4 bytes; owner root."""
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1],
              len(name) + 1, 0)
    header = MAGIC + b"".join(b"%08X" % f for f in fields)
    raw_name = name.encode() + b"\0"
    return (header + raw_name + _pad4(len(header) + len(raw_name)) + data +
            _pad4(len(data)))


class Archive:
    """A newc archive built in memory, paths relative to the guest's root."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        #: folders already in this archive
        self._dirs: set[str] = set()
        self._ino = 1

    def _add(self, name: str, mode: int, data: bytes = b"",
             rdev: tuple[int, int] = (0, 0)) -> None:
        path = PurePosixPath(name.lstrip("/"))
        if not path.parts or ".." in path.parts:
            raise ValueError(f"cpio: {name!r} is not a path inside the root")
        self._parents(path)
        self._parts.append(entry(str(path), mode, data, ino=self._ino, rdev=rdev,
                                 nlink=2 if stat.S_ISDIR(mode) else 1))
        self._ino += 1

    def _parents(self, path: PurePosixPath) -> None:
        for parent in reversed(path.parents[:-1]):
            if str(parent) not in self._dirs:
                self._dirs.add(str(parent))
                self._parts.append(entry(str(parent), stat.S_IFDIR | 0o755, ino=self._ino,
                                         nlink=2))
                self._ino += 1

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        key = name.strip("/")
        if key not in self._dirs:
            self._add(name, stat.S_IFDIR | mode)
            self._dirs.add(key)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._add(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def add_node(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        """A character device node (the guest has no devtmpfs before /init mounts it)."""
        self._add(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def add_path(self, host: Path, name: str) -> None:
        """The host file, link or folder @host (not its contents) as @name."""
        st = host.lstat()
        if stat.S_ISLNK(st.st_mode):
            self.add_symlink(name, os.readlink(host))
        elif stat.S_ISDIR(st.st_mode):
            self.add_dir(name, stat.S_IMODE(st.st_mode))
        elif stat.S_ISREG(st.st_mode):
            self.add_file(name, host.read_bytes(), stat.S_IMODE(st.st_mode))
        else:
            raise ValueError(f"cpio: {host} is neither a file, a link nor a folder")

    def add_tree(self, top: Path, under: str = "") -> None:
        """Everything below the host folder @top, as @under/<relative path>."""
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            here = Path(dirpath)
            for name in sorted(dirnames) + sorted(filenames):
                p = here / name
                self.add_path(p, str(PurePosixPath(under, p.relative_to(top))))

    def finish(self) -> bytes:
        """The archive, with its trailer."""
        return b"".join(self._parts) + entry(TRAILER, 0, ino=0, nlink=1)
