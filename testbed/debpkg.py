"""Debian packages of any suite and architecture, fetched with a private APT
configuration: nothing on this machine's APT state changes (no added
architecture, no new source), and nothing is installed.

    debs = debpkg.download(["libc6"], suite="bookworm", arch="arm64", dest=tmp)
    debpkg.extract(debs, root)      # dpkg-deb -x each into root/

The private APT state (lists, keyring use, cache) lives in the per-user cache
(testbed.cache) under apt/<suite>-<arch>-<digest>/, refreshed when older
than a day.  The mirror is the one the Docker images use
(testbed.debpkg.debian_mirror).  sid's Release files are checked without
their Valid-Until (the mirrors here may serve a frozen snapshot).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed import cache

MIRROR_VAR = "CSE_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
#: Debian's name for a matrix arch
DEB_ARCH = {"x86_64": "amd64", "i386": "i386", "arm64": "arm64", "s390x": "s390x",
            "ppc64": "ppc64", "ppc64le": "ppc64el"}
REFRESH_S = 24 * 3600
APT_TIMEOUT_S = 1800


class DebError(RuntimeError):
    """APT or dpkg-deb failed; the message carries their output's tail."""


def debian_mirror() -> str:
    """$CSE_DEBIAN_MIRROR, else the Debian mirror of this machine's apt
    sources (it is known to work from here), else deb.debian.org."""
    if mirror := os.environ.get(MIRROR_VAR, "").strip():
        return mirror.rstrip("/")
    try:
        out = subprocess.run(
            ["apt-get", "indextargets", "--format", "$(ORIGIN)|$(LABEL)|$(REPO_URI)"],
            capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MIRROR
    for line in out.splitlines():
        origin, _, rest = line.partition("|")
        label, _, uri = rest.partition("|")
        if origin == "Debian" and label == "Debian" and uri.startswith(("http:", "https:")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _suites(suite: str) -> list[str]:
    """The suites whose packages count as @suite's: its updates and security
    suites too (a kernel's newest ABI is often only there)."""
    if suite in ("sid", "unstable"):
        return ["sid"]
    return [suite, f"{suite}-updates"]


def sources(suite: str, arch: str, mirror: str) -> str:
    """The private sources.list for @suite on Debian arch @arch."""
    opts = f"arch={arch} signed-by={KEYRING}"
    lines = [f"deb [{opts}] {mirror} {s} main" for s in _suites(suite)]
    if suite not in ("sid", "unstable"):
        security = mirror.rsplit("/debian", 1)[0] + "/debian-security" \
            if mirror.endswith("/debian") else "http://deb.debian.org/debian-security"
        lines.append(f"deb [{opts}] {security} {suite}-security main")
    return "\n".join(lines) + "\n"


def _apt_dir(suite: str, arch: str, mirror: str) -> Path:
    key = cache.digest(sources(suite, arch, mirror))
    return cache.cache_root() / "apt" / f"{suite}-{arch}-{key}"


def _options(root: Path, arch: str, suite: str) -> list[str]:
    opts = {
        "Dir::Etc::SourceList": str(root / "sources.list"),
        "Dir::Etc::SourceParts": str(root / "sources.list.d"),
        "Dir::Etc::Preferences": str(root / "preferences"),
        "Dir::Etc::PreferencesParts": str(root / "preferences.d"),
        "Dir::State": str(root / "state"),
        "Dir::State::status": str(root / "state" / "status"),
        "Dir::Cache": str(root / "cache"),
        "APT::Architecture": arch,
        "APT::Architectures": arch,
        "Debug::NoLocking": "1",
        "Acquire::Languages": "none",
        "Acquire::Retries": "3",
        # the state lives in a private folder (~/.cache is 0700) that apt's
        # _apt sandbox user cannot reach: without this it warns, which
        # `update --error-on=any` takes for a failure
        "APT::Sandbox::User": "root",
    }
    if suite in ("sid", "unstable"):
        opts["Acquire::Check-Valid-Until"] = "false"
    return [a for k, v in opts.items() for a in ("-o", f"{k}={v}")]


def _apt(args: list[str], root: Path, arch: str, suite: str, cwd: Path | None = None) -> str:
    cmd = ["apt-get", "-q", *_options(root, arch, suite), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=APT_TIMEOUT_S,
                              cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise DebError(f"apt-get {' '.join(args)} did not finish in {APT_TIMEOUT_S} s") from e
    except OSError as e:
        raise DebError(f"cannot run apt-get: {e}") from e
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise DebError(f"apt-get {' '.join(args)} ({suite}, {arch}) failed "
                       f"({proc.returncode}):\n{tail}")
    return proc.stdout


@contextmanager
def _locked(root: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold @root's lock: exclusive to refresh the lists, shared to read them
    (apt-get runs with Debug::NoLocking, so this lock is the only one)."""
    with (root / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def _prepare(suite: str, arch: str) -> Path:
    mirror = debian_mirror()
    root = _apt_dir(suite, arch, mirror)
    for sub in ("sources.list.d", "preferences.d", "state/lists/partial",
                "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(sources(suite, arch, mirror))
    (root / "state" / "status").touch()
    return root


def _stale(stamp: Path) -> bool:
    return not stamp.exists() or time.time() - stamp.stat().st_mtime > REFRESH_S


@contextmanager
def apt_state(suite: str, arch: str) -> Iterator[Path]:
    """The private APT state for @suite/@arch, its lists fresh (updated when
    older than a day), held so that no other process refreshes them while
    the caller reads them (a reader beside a refresh once saw no packages)."""
    root = _prepare(suite, arch)
    stamp = root / "updated"
    while True:
        with _locked(root, exclusive=False):
            if not _stale(stamp):
                yield root
                return
        with _locked(root, exclusive=True):
            if _stale(stamp):
                # --error-on=any: a mirror that cannot be reached fails the
                # update (apt-get only warns), so the lists are not taken as
                # fresh; the binary caches are built here, once, so that
                # readers never write them side by side
                _apt(["update", "--error-on=any"], root, arch, suite)
                _apt_cache(["gencaches"], root, arch, suite)
                stamp.touch()


#: what apt-cache says (in the C locale) when the package asked for is not there
_NO_PACKAGES = "E: No packages found"


def _apt_cache(args: list[str], root: Path, arch: str, suite: str) -> str:
    """apt-cache's output; "" when the package asked for does not exist (its
    other failures raise, never read as an empty answer)."""
    try:
        out = subprocess.run(["apt-cache", *_options(root, arch, suite), *args],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired as e:
        raise DebError(f"apt-cache {' '.join(args)} did not finish in 120 s") from e
    except OSError as e:
        raise DebError(f"cannot run apt-cache: {e}") from e
    if out.returncode and out.stderr.strip() == _NO_PACKAGES:
        return ""
    if out.returncode:
        raise DebError(f"apt-cache {' '.join(args)} ({suite}, {arch}) failed "
                       f"({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def _query(args: list[str], suite: str, arch: str) -> str:
    """apt-cache @args on fresh lists of @suite/@arch."""
    with apt_state(suite, arch) as root:
        return _apt_cache(args, root, arch, suite)


def resolve(pattern: str, suite: str, arch: str) -> list[str]:
    """Package names of @suite/@arch matching the regular expression @pattern
    (apt-cache search --names-only), sorted."""
    out = _query(["search", "--names-only", pattern], suite, arch)
    return sorted(line.split(" - ", 1)[0] for line in out.splitlines() if line)


def candidate(package: str, suite: str, arch: str) -> str:
    """The version of @package that @suite/@arch offers (its newest)."""
    out = _query(["show", "--no-all-versions", package], suite, arch)
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise DebError(f"{package} is not in {suite} ({arch}): apt-cache shows no version")


def depends(package: str, suite: str, arch: str) -> list[str]:
    """The direct Depends of @package in @suite/@arch (alternatives: the
    first); none when @suite has no @package."""
    out = _query(["depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                  "--no-breaks", "--no-replaces", "--no-enhances", package], suite, arch)
    deps = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:"):
            name = line.split(":", 1)[1].strip().split(":")[0]
            if name and not name.startswith("<"):
                deps.append(name)
    return deps


def download(packages: list[str], *, suite: str, arch: str, dest: Path) -> list[Path]:
    """Download @packages (exact names, or name=version) of @suite for Debian
    arch @arch into @dest; return the .deb files."""
    if not packages:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.deb"))
    with apt_state(suite, arch) as root:
        _apt(["download", *packages], root, arch, suite, cwd=dest)
    got = sorted(set(dest.glob("*.deb")) - before)
    if len(got) < len(packages):
        raise DebError(f"apt-get download {' '.join(packages)} gave {len(got)} files")
    return got


def extract(debs: list[Path], root: Path) -> None:
    """Unpack each .deb's files into @root (dpkg-deb -x: no scripts run)."""
    root.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True,
                              text=True, timeout=600)
        if proc.returncode:
            raise DebError(f"dpkg-deb -x {deb.name} failed: {proc.stderr.strip()}")
