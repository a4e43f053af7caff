"""The per-user cache: things downloaded or built once (kernels, headers,
chroots, toolchains, sysroots), shared by every clone and by `make test`,
`make run` and `make bench`.

    entry = cache.Entry("sysroots", "arm64-bookworm", cache.digest(recipe, __file__))
    path = cache.ensure(entry, build=lambda tmp: fill(tmp))

The root is $CSE_CACHE_DIR, else $XDG_CACHE_HOME/cse, else ~/.cache/cse.  An
entry lives in <root>/<kind>/<name>-<digest>/, where the digest is a hash of
its recipe (and of the code that builds it), so a changed recipe builds a new
entry beside the old one and an unchanged one is reused.

An entry is built in a temporary folder next to its place and renamed into
it only when complete, with a manifest of every file (type, size, link
target).  ensure() checks the manifest before trusting an entry: a partial
entry (a killed build leaves no manifest) or a corrupt one (a file missing,
truncated or changed in size) is removed and rebuilt.  Builds of one entry
are serialised by a lock file, so parallel cells wait for the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CACHE_VAR = "CSE_CACHE_DIR"
MANIFEST = ".cse-manifest.json"
MANIFEST_VERSION = 1


class CacheError(RuntimeError):
    """An entry could not be built (the message says why and where the log is)."""


def cache_root() -> Path:
    """$CSE_CACHE_DIR, else $XDG_CACHE_HOME/cse, else ~/.cache/cse."""
    if explicit := os.environ.get(CACHE_VAR, "").strip():
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cse"


def digest(*parts: object) -> str:
    """16 hex digits over @parts: bytes, str, a Path (its file's bytes) or any
    JSON-able value (dicts hashed with sorted keys)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            data = part.read_bytes()
        elif isinstance(part, bytes):
            data = part
        elif isinstance(part, str):
            data = part.encode()
        else:
            data = json.dumps(part, sort_keys=True).encode()
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """One cached thing: <root>/<kind>/<name>-<digest>/."""

    kind: str
    name: str
    digest: str

    def __post_init__(self) -> None:
        for what, value in (("kind", self.kind), ("name", self.name), ("digest", self.digest)):
            if not value or "/" in value or value.startswith("."):
                raise ValueError(f"cache entry {what} {value!r}: not a plain file name")

    @property
    def path(self) -> Path:
        return cache_root() / self.kind / f"{self.name}-{self.digest}"

    @property
    def log(self) -> Path:
        """Where ensure() keeps the build's log (beside the entry)."""
        return cache_root() / self.kind / f"{self.name}-{self.digest}.log"


def _manifest(top: Path) -> dict[str, list[object]]:
    """relative path -> [type, size or link target] for everything under @top."""
    out: dict[str, list[object]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(top))
            if rel == MANIFEST:
                continue
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ["l", os.readlink(p)]
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ["d", 0]
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ["f", st.st_size]
            else:  # device nodes, fifos (a chroot's /dev): present is enough
                out[rel] = ["o", 0]
    return out


def problem(path: Path, entry_digest: str) -> str | None:
    """Why the entry at @path cannot be trusted, or None if it is whole."""
    try:
        saved = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        return "no manifest (a build that did not finish)"
    except (OSError, ValueError) as e:
        return f"unreadable manifest ({e})"
    if not isinstance(saved, dict) or saved.get("version") != MANIFEST_VERSION or \
            saved.get("digest") != entry_digest or not isinstance(saved.get("files"), dict):
        return "manifest of another format or recipe"
    for rel, (kind, value) in saved["files"].items():
        p = path / rel
        try:
            st = p.lstat()
        except OSError:
            return f"{rel} is missing"
        if kind == "f" and (not stat.S_ISREG(st.st_mode) or st.st_size != value):
            return f"{rel} changed (size {st.st_size}, expected {value})"
        if kind == "l" and (not stat.S_ISLNK(st.st_mode) or os.readlink(p) != value):
            return f"{rel} is no longer a link to {value}"
        if kind == "d" and not stat.S_ISDIR(st.st_mode):
            return f"{rel} is no longer a directory"
    return None


@contextmanager
def _locked(entry: Entry) -> Iterator[None]:
    lock = cache_root() / entry.kind / f".{entry.name}-{entry.digest}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def ensure(entry: Entry, build: Callable[[Path], None],
           say: Callable[[str], None] | None = None) -> Path:
    """The entry's folder, built first by @build(tmp) when missing, partial or
    corrupt.  @build fills the empty folder tmp (it may append to entry.log);
    any exception it raises leaves no entry behind and goes on.  @say reports
    progress ("building ...", "rebuilding ...: why")."""
    path = entry.path
    with _locked(entry):
        if path.exists():
            why = problem(path, entry.digest)
            if why is None:
                return path
            if say:
                say(f"cache: rebuilding {path}: {why}")
            _remove(path)
        elif say:
            say(f"cache: building {path} (log: {entry.log})")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        _remove(tmp)
        tmp.mkdir(parents=True)
        t0 = time.monotonic()
        try:
            build(tmp)
            files = _manifest(tmp)
            (tmp / MANIFEST).write_text(json.dumps(
                {"version": MANIFEST_VERSION, "digest": entry.digest, "files": files,
                 "seconds": round(time.monotonic() - t0, 1)}))
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


def entries(kind: str | None = None) -> list[Path]:
    """Every complete-looking entry (kind/name-digest folders), for `cse cache`."""
    root = cache_root()
    kinds = [root / kind] if kind else sorted(p for p in root.glob("*") if p.is_dir())
    return sorted(p for k in kinds if k.is_dir() for p in k.iterdir()
                  if p.is_dir() and not p.name.startswith("."))
