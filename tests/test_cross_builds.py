"""The cross and foreign builds `make test` makes (testbed.builds.TESTED and
BUILD_ONLY): each is complete (every executable and library Meson lists was
built) and really is code for its target (architecture, byte order, OS), read
from the ELF files themselves.  The FreeBSD builds cannot run here: this is
their proof, with the link against FreeBSD 14's own libc done by zig."""

from __future__ import annotations

import pytest

from testbed import elf
from testbed.builds import BUILD_ONLY, FLAVOURS, TESTED


@pytest.mark.parametrize("name", [*TESTED, *BUILD_ONLY])
def test_build_is_complete_code_for_its_target(name: str) -> None:
    flavour = FLAVOURS[name]
    t = flavour.toolchain
    if not (flavour.builddir / "meson-info").is_dir():
        pytest.fail(f"{flavour.builddir} was not built: run `python -m testbed build {name}`")
    assert elf.problems(flavour.builddir, t.arch, t.os) == []
    names = {f.name for f in elf.built_files(flavour.builddir)}
    # the library and every test program, not just some of them
    assert {"cse-conformance", "cse-conf-helper", "test-core", "test-hostile",
            "test-leaks"} <= names


def test_the_check_catches_a_wrong_target() -> None:
    """The same arm64 build judged as x86_64, and as FreeBSD, is rejected."""
    arm = FLAVOURS["arm64"].builddir
    wrong = elf.problems(arm, "x86_64", "linux")
    assert wrong and all("expected linux/x86_64" in w for w in wrong if "missing" not in w)
    assert elf.problems(arm, "arm64", "freebsd")
    linux = elf.read(FLAVOURS["linux"].builddir / "tests/cse-conformance")
    assert linux == elf.ElfInfo(64, "little", "x86_64", "linux")
    s390x = elf.read(FLAVOURS["s390x"].builddir / "tests/cse-conformance")
    assert s390x == elf.ElfInfo(64, "big", "s390x", "linux")
