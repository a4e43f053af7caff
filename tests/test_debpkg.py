"""The private APT state (testbed/debpkg.py) against the real Debian mirror,
in a cache of the test's own: queries answer from fresh lists, a missing
package is an empty answer, and a refresh never rewrites the lists under a
reader (an arm64 kernel once resolved to nothing while another xdist worker
refreshed them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed import cache, debpkg

SUITE, ARCH = "bookworm", "arm64"


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_VAR, str(tmp_path))
    return tmp_path


def test_queries_answer_from_fresh_lists(own_cache: Path) -> None:
    deps = debpkg.depends("linux-image-arm64", SUITE, ARCH)
    assert any(d.startswith("linux-image-6.1.") and d.endswith("-arm64") for d in deps), deps
    assert debpkg.candidate("linux-headers-arm64", SUITE, ARCH).startswith("6.1.")
    assert "linux-headers-arm64" in debpkg.resolve("^linux-headers-arm64$", SUITE, ARCH)


def test_a_missing_package_is_an_empty_answer(own_cache: Path) -> None:
    assert debpkg.depends("linux-image-0.0-arm64", SUITE, ARCH) == []
    with pytest.raises(debpkg.DebError, match="not in bookworm"):
        debpkg.candidate("linux-image-0.0-arm64", SUITE, ARCH)


def test_a_broken_list_is_an_error_not_an_empty_answer(own_cache: Path) -> None:
    with debpkg.apt_state(SUITE, ARCH) as root:
        lists = [p for p in (root / "state/lists").iterdir() if "_Packages" in p.name]
        assert lists, "apt update fetched no Packages list"
        lists[0].write_bytes(b"not a Packages list\n")    # (and not lz4 either)
        for pkgcache in (root / "cache").glob("*.bin"):
            pkgcache.unlink()
    with pytest.raises(debpkg.DebError, match="apt-cache depends .* failed"):
        debpkg.depends("linux-image-arm64", SUITE, ARCH)
    # Not "linux-headers-arm64 is not in bookworm": apt-cache's own failure.
    with pytest.raises(debpkg.DebError, match="^apt-cache show .* failed"):
        debpkg.candidate("linux-headers-arm64", SUITE, ARCH)


def test_a_refresh_waits_for_its_readers(own_cache: Path) -> None:
    """A reader holds the lists; another process finds them stale: it must
    refresh only once the reader is done."""
    refresh = [sys.executable, "-c",
               "from testbed import debpkg\n"
               f"with debpkg.apt_state({SUITE!r}, {ARCH!r}): pass\n"]
    with debpkg.apt_state(SUITE, ARCH) as root:
        stamp = root / "updated"
        day_ago = time.time() - debpkg.REFRESH_S - 60
        os.utime(stamp, (day_ago, day_ago))
        other = subprocess.Popen(refresh, cwd=Path(__file__).parent.parent,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        refreshed = other.poll() is not None or stamp.stat().st_mtime > day_ago + 1
        if refreshed:
            other.kill()
        assert not refreshed, "the lists were refreshed under a reader"
    out, _ = other.communicate(timeout=600)
    assert other.returncode == 0, out
    assert stamp.stat().st_mtime > time.time() - 600, "the stale lists were not refreshed"
