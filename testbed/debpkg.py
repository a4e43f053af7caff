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


def apt_root(suite: str, arch: str) -> Path:
    """The private APT state for @suite/@arch, its lists fresh (updated when
    older than a day); serialised across processes."""
    mirror = debian_mirror()
    root = _apt_dir(suite, arch, mirror)
    for sub in ("sources.list.d", "preferences.d", "state/lists/partial",
                "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(sources(suite, arch, mirror))
    (root / "state" / "status").touch()
    stamp = root / "updated"
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or time.time() - stamp.stat().st_mtime > REFRESH_S:
            # --error-on=any: a mirror that cannot be reached fails the update
            # (apt-get only warns), so the lists are not taken as fresh
            _apt(["update", "--error-on=any"], root, arch, suite)
            stamp.touch()
    return root


def resolve(pattern: str, suite: str, arch: str) -> list[str]:
    """Package names of @suite/@arch matching the regular expression @pattern
    (apt-cache search --names-only), sorted."""
    root = apt_root(suite, arch)
    out = subprocess.run(["apt-cache", *_options(root, arch, suite), "search",
                          "--names-only", pattern], capture_output=True, text=True,
                         timeout=120)
    return sorted(line.split(" - ", 1)[0] for line in out.stdout.splitlines() if line)


def candidate(package: str, suite: str, arch: str) -> str:
    """The version of @package that @suite/@arch offers (its newest)."""
    root = apt_root(suite, arch)
    out = subprocess.run(["apt-cache", *_options(root, arch, suite), "show",
                          "--no-all-versions", package], capture_output=True, text=True,
                         timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise DebError(f"{package} is not in {suite} ({arch}): {out.stderr.strip()}")


def depends(package: str, suite: str, arch: str) -> list[str]:
    """The direct Depends of @package in @suite/@arch (alternatives: the first)."""
    root = apt_root(suite, arch)
    out = subprocess.run(["apt-cache", *_options(root, arch, suite), "depends",
                          "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", package],
                         capture_output=True, text=True, timeout=120)
    deps = []
    for line in out.stdout.splitlines():
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
    root = apt_root(suite, arch)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.deb"))
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
