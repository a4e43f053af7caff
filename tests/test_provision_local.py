"""testbed.provision.local: scripts on this host, for real."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from testbed.builds import FLAVOURS
from testbed.matrix import Cell
from testbed.provision import provisioner_for
from testbed.provision.local.provisioner import LocalProvisioner


def _cell(**over: object) -> Cell:
    keys: dict = {"id": "local-t", "provisioner": "local", "arch": "x86_64", "libc": "glibc",
                  "backend": "linux", "suites": ("uu",)}
    return Cell(**(keys | over))


def _procs_with(marker: str) -> list[int]:
    """Processes whose command line contains @marker."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def test_provisioner_for_local(tmp_path: Path) -> None:
    p = provisioner_for(_cell(), tmp_path)
    assert isinstance(p, LocalProvisioner) and p.shares_host_fs


@pytest.mark.skipif(platform.machine() != "x86_64", reason="expectations for an x86_64 host")
def test_what_this_host_runs(tmp_path: Path) -> None:
    """Native and i386 programs run as they are, other Linux architectures
    under qemu-user (the emulator in front, named for spawned helpers too),
    FreeBSD's not at all (the cell is build-only)."""
    p = LocalProvisioner(_cell(), tmp_path)
    assert p.unavailable() is None
    for name in ("linux", "m32", "musl", "clang"):
        assert p.cannot_run(FLAVOURS[name]) is None
        assert p.program_prefix(FLAVOURS[name])[0] == []
    argv, env = p.program_prefix(FLAVOURS["arm64"])
    assert argv == [shutil.which("qemu-aarch64")] and env["CSE_TEST_EXEC_WRAPPER"] == argv[0]
    assert (Path(env["QEMU_LD_PREFIX"]) / "lib/ld-linux-aarch64.so.1").exists()
    assert "QEMU_LD_PREFIX" not in p.program_prefix(FLAVOURS["ppc64"])[1]  # static musl
    why = p.cannot_run(FLAVOURS["freebsd-x86_64"])
    assert why is not None and "built only" in why and "not FreeBSD" in why
    asan_env = p.program_prefix(FLAVOURS["asan"])[1]
    assert "detect_leaks=1" in asan_env["ASAN_OPTIONS"]


def test_run_output_status_and_live_log(tmp_path: Path) -> None:
    p = LocalProvisioner(_cell(), tmp_path / "logs")
    p.start()
    res = p.run("echo out; echo err >&2; pwd; exit 7", timeout_s=60)
    assert res.returncode == 7 and not res.timed_out and res.error == ""
    lines = res.output.splitlines()
    assert lines[:2] == ["out", "err"] and Path(lines[2]) == Path(__file__).parent.parent
    assert (tmp_path / "logs/cell.log").read_text() == res.output
    p.stop()


def test_timeout_kills_the_whole_session(tmp_path: Path) -> None:
    """`timeout` puts its command in a process group of its own: killing the
    script's group would leave it running; the whole session must go."""
    marker = f"301.{os.getpid()}"
    p = LocalProvisioner(_cell(), tmp_path)
    t0 = time.monotonic()
    res = p.run(f"echo started; timeout 300 sleep {marker}; echo never", timeout_s=2)
    assert time.monotonic() - t0 < 30
    assert res.returncode is None and res.timed_out and "killed after 2 s" in res.error
    assert res.output == "started\n"
    assert _procs_with(f"sleep {marker}") == []


def test_background_leftovers_are_killed(tmp_path: Path) -> None:
    marker = f"302.{os.getpid()}"
    res = LocalProvisioner(_cell(), tmp_path).run(f"sleep {marker} & echo done", timeout_s=60)
    assert res.returncode == 0 and res.output == "done\n"
    assert _procs_with(f"sleep {marker}") == []


def test_put_and_get(tmp_path: Path) -> None:
    p = LocalProvisioner(_cell(), tmp_path / "logs")
    (tmp_path / "d/sub").mkdir(parents=True)
    (tmp_path / "d/sub/f").write_text("x")
    p.put(tmp_path / "d", str(tmp_path / "in/d"))
    assert (tmp_path / "in/d/sub/f").read_text() == "x"
    p.get(str(tmp_path / "in/d/sub/f"), tmp_path / "out/f")
    assert (tmp_path / "out/f").read_text() == "x"


def test_shell_is_interactive_and_exits_with_its_status(tmp_path: Path) -> None:
    argv = LocalProvisioner(_cell(), tmp_path).shell_argv()
    proc = subprocess.run(argv, input="echo hi-from-shell; exit 3\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3 and "hi-from-shell" in proc.stdout
