"""Paths built from input the testbed does not control never leave their root.

Cell ids come from ci/matrix.yaml (or a CI matrix, or another runner's
result files) and name directories the runner clears with rmtree; log paths
come from result files other machines wrote.  Both are checked here, once:

- a cell id is letters and digits, then also ``.``, ``_`` and ``-``, at most
  100 characters: never ``.`` or ``..``, never a ``/``, a NUL or white
  space, never starting like an option or a hidden file;
- inside() joins a relative path under a root and refuses one that is
  absolute, climbs (``..``), or resolves elsewhere through a symlink.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

CELL_ID_MAX = 100
CELL_ID_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{CELL_ID_MAX - 1}}}")


class UnsafePath(ValueError):
    """A name or relative path that would leave its root."""


def cell_id_problem(value: object) -> str | None:
    """None if @value is a usable cell id, else why not."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__} {value!r}"
    if not CELL_ID_RE.fullmatch(value):
        return (f"{value!r} is not a usable cell id: it names directories and files, so "
                f"it is 1..{CELL_ID_MAX} letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit")
    return None


def check_cell_id(value: object) -> str:
    """@value if it is a usable cell id; UnsafePath if not."""
    if why := cell_id_problem(value):
        raise UnsafePath(why)
    assert isinstance(value, str)
    return value


def rel_problem(rel: str) -> str | None:
    """None if @rel is a relative path that stays below where it starts."""
    p = PurePosixPath(rel)
    if not rel or "\0" in rel or p.is_absolute() or ".." in p.parts:
        return f"{rel!r} is not a relative path below its root"
    return None


def inside(root: Path, rel: str | Path) -> Path:
    """root/rel, provably under @root (symlinks already there included);
    UnsafePath if not."""
    if why := rel_problem(str(rel)):
        raise UnsafePath(why)
    path = root / rel
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafePath(f"{rel!r} leads out of {root} (through a symbolic link)")
    return path
