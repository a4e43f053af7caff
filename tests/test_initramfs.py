"""The guest user space of the foreign-arch VMs: the newc cpio writer
(testbed/provision/qemu/cpio.py), checked against GNU cpio's own reading of it, and what
testbed/provision/qemu/guest_root.py puts in the initramfs (the base's choice of files,
/init, the per-boot overlay)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from testbed.provision.qemu import cpio, guest_root
from testbed.provision.qemu.vm import EXIT_MARKER


def _list(archive: bytes) -> list[str]:
    """`cpio -itv` of @archive: GNU cpio is the independent reader."""
    proc = subprocess.run(["cpio", "-itv", "--quiet"], input=archive, capture_output=True,
                          check=True)
    return proc.stdout.decode().splitlines()


def _unpack(archive: bytes, dest: Path) -> None:
    dest.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=archive,
                   cwd=dest, check=True, capture_output=True)


def test_archive_reads_back_with_gnu_cpio(tmp_path: Path) -> None:
    a = cpio.Archive()
    a.add_file("a/b/tool", b"#!/bin/sh\necho hi\n", 0o755)
    a.add_file("odd", b"x" * 5)  # sizes that need padding
    a.add_symlink("a/link", "b/tool")
    a.add_node("dev/console", 5, 1)
    data = a.finish()
    assert len(data) % 4 == 0
    lines = _list(data)
    names = [line.split()[-1] if "->" not in line else line.split()[-3] for line in lines]
    # parents come before their children, each once
    assert names == ["a", "a/b", "a/b/tool", "odd", "a/link", "dev", "dev/console"]
    console = next(line for line in lines if line.endswith("dev/console"))
    assert console.startswith("crw-------") and "5,   1" in console
    assert all(" root " in line for line in lines)
    _unpack(data, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "a/b/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((out / "a/b/tool").stat().st_mode) == 0o755
    assert (out / "odd").read_bytes() == b"xxxxx"
    assert os.readlink(out / "a/link") == "b/tool"


def test_archives_concatenate(tmp_path: Path) -> None:
    """The kernel unpacks a base and an overlay one after the other; GNU
    cpio reads the first, and each is whole on its own."""
    one, two = cpio.Archive(), cpio.Archive()
    one.add_file("bin/x", b"1")
    two.add_file("usr/y", b"22")
    data = one.finish() + two.finish()
    assert [line.split()[-1] for line in _list(data)] == ["bin", "bin/x"]
    second = data[len(one.finish()):]
    assert [line.split()[-1] for line in _list(second)] == ["usr", "usr/y"]


@pytest.mark.parametrize("bad", ["", "/", "a/../../etc/passwd"])
def test_paths_stay_inside_the_root(bad: str) -> None:
    with pytest.raises(ValueError, match="not a path inside the root"):
        cpio.Archive().add_file(bad, b"")


def test_add_tree_keeps_links_and_modes(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "lib.so.1.0").write_bytes(b"elf")
    (top / "sub" / "lib.so.1").symlink_to("lib.so.1.0")
    a = cpio.Archive()
    a.add_tree(top, "opt/t")
    _unpack(a.finish(), tmp_path / "out")
    assert os.readlink(tmp_path / "out/opt/t/sub/lib.so.1") == "lib.so.1.0"
    assert (tmp_path / "out/opt/t/sub/lib.so.1.0").read_bytes() == b"elf"


def test_base_keeps_what_the_guest_runs() -> None:
    for rel in ("bin/busybox", "bin/dash", "usr/bin/timeout", "bin/dmesg",
                "lib/ld-linux-aarch64.so.1", "lib/aarch64-linux-gnu/libc.so.6"):
        assert guest_root.kept(rel), rel
    for rel in ("usr/share/doc/libc6/copyright", "usr/bin/ls", "lib/systemd/system/x.service",
                "usr/lib/aarch64-linux-gnu/gconv/UTF-16.so", "sbin/ldconfig"):
        assert not guest_root.kept(rel), rel


def test_base_archive_has_init_console_and_sh(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel, data in (("bin/busybox", b"bb"), ("bin/dash", b"dash"),
                      ("usr/share/doc/x", b"doc"), ("lib/aarch64-linux-gnu/libc.so.6", b"c")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "lib/ld-linux-aarch64.so.1").symlink_to("aarch64-linux-gnu/ld-linux-aarch64.so.1")
    listing = "\n".join(_list(guest_root.base_archive(root)))
    assert "dev/console" in listing and "bin/sh -> dash" in listing
    assert "lib/ld-linux-aarch64.so.1 -> aarch64-linux-gnu/" in listing
    assert "usr/share" not in listing
    _unpack(guest_root.base_archive(root), tmp_path / "out")
    init = tmp_path / "out" / "init"
    assert stat.S_IMODE(init.stat().st_mode) == 0o755
    assert init.read_text() == guest_root.INIT


def test_init_runs_the_script_and_reports_its_status() -> None:
    init = guest_root.INIT
    assert init.startswith("#!/bin/busybox sh\n")
    # the same marker testbed.provision.qemu.vm reads, after the script, then power off
    assert f"/bin/sh {guest_root.SCRIPT}\n\techo {EXIT_MARKER}$?\n" in init
    assert "ip link set lo up" in init  # K-U's backup path is TCP on 127.0.0.1
    assert init.rstrip().endswith("poweroff -f")
    assert f"dmesg -n {guest_root.SCRIPT_LOGLEVEL}" in init
    # nothing is mounted over a folder the host's files come in at (a
    # checkout under /tmp, as CI's fresh clone is, vanished under a tmpfs)
    mounted = re.findall(r"^mount -t \S+ \S+ (\S+)$", init, re.M)
    assert mounted and not {"/tmp", "/work", "/root", "/home", "/srv"} & set(mounted)


def test_init_is_valid_sh(tmp_path: Path) -> None:
    (tmp_path / "init").write_text(guest_root.INIT)
    proc = subprocess.run(["sh", "-n", str(tmp_path / "init")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_guest_files_are_programs_libraries_and_modules(tmp_path: Path) -> None:
    build = tmp_path / "build"
    for rel, mode in (("tests/cse-conformance", 0o755), ("libcse.so.0.1.0", 0o755),
                      ("tests/cse-conformance.p/main.c.o", 0o644),
                      ("tests/x.p/tool", 0o755), ("meson-private/sanity", 0o755),
                      ("build.ninja", 0o644), ("cse.ko", 0o644), ("core/chunk.o", 0o755)):
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / rel).write_bytes(b"x")
        (build / rel).chmod(mode)
    (build / "libcse.so.0").symlink_to("libcse.so.0.1.0")
    (build / "os_base.c").symlink_to("/nowhere/os_base.c")  # module dirs link sources
    got = sorted(str(p.relative_to(build)) for p in guest_root.guest_files(build))
    assert got == ["cse.ko", "libcse.so.0", "libcse.so.0.1.0", "tests/cse-conformance"]


def test_overlay_mirrors_host_paths(tmp_path: Path) -> None:
    prog = tmp_path / "b" / "prog"
    prog.parent.mkdir()
    prog.write_bytes(b"\x7fELF")
    prog.chmod(0o755)
    data = guest_root.overlay("echo hi\n", [prog])
    _unpack(data, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / str(prog).lstrip("/")).read_bytes() == b"\x7fELF"
    assert (out / guest_root.SCRIPT.lstrip("/")).read_text() == "echo hi\n"
    shell = guest_root.overlay(None, [])
    assert guest_root.SCRIPT.lstrip("/") not in "\n".join(_list(shell))
