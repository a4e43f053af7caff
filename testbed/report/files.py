"""Writing report files so that a killed or failed run never leaves half of one.

Every report file is written to a temporary name in the same directory and
renamed over the old one (rename is atomic on one filesystem), and a merged
cell directory is copied under a hidden temporary name first.  Hidden names
(starting with ".") are never read back as results (see load.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write @data (text as UTF-8) to @path via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide reports from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_copy_file(src: Path, dest: Path) -> None:
    """Copy one file to @dest through a temporary name (contents and mode)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        shutil.copymode(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(staged: Path, dest: Path) -> None:
    """Put the finished directory @staged (a sibling of @dest) in @dest's place.

    The old @dest is moved aside first and deleted only once @staged is in
    place, so a failure in between leaves one of the two complete.
    """
    if not dest.exists():
        staged.rename(dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    old.rmdir()  # only the unique name is wanted
    dest.rename(old)
    try:
        staged.rename(dest)
    except BaseException:
        old.rename(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def staging_dir(dest: Path) -> Path:
    """A new hidden empty directory next to @dest, to build its replacement in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    staged.chmod(0o755)  # mkdtemp's 0700 would hide the logs from other users
    return staged
