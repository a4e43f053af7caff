"""Peers of the other byte order: a big-endian s390x program under qemu-user
and a little-endian x86_64 one on this host really share a socket and a
chunk.  The ABI is in host byte order (abi.h), so the handshake must refuse
them with its own error on both sides, -ENOEXEC ("peer uses the other byte
order"), never a generic protocol violation or a hang.

Real processes: the README's example server and client, from the linux
(x86_64) and s390x builds (make test builds both)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from testbed.builds import FLAVOURS, Flavour

OTHER_ORDER = "peer uses the other byte order"


def _cmd(flavour: Flavour, program: str, *args: str) -> tuple[list[str], dict[str, str]]:
    path = flavour.builddir / "examples" / program
    if not path.exists():
        pytest.fail(f"{path} is missing: run `python -m testbed build {flavour.name}`")
    argv, env = flavour.command(path, *args)
    return argv, os.environ | env


@pytest.mark.parametrize(("server_fl", "client_fl"), [("linux", "s390x"), ("s390x", "linux")])
def test_other_byte_order_is_refused_by_name(server_fl: str, client_fl: str) -> None:
    sid = f"endian-{server_fl}-{os.getpid()}"
    argv, env = _cmd(FLAVOURS[server_fl], "upper_server", sid)
    # CSE_VERBOSE: the server logs why it refused a client
    server = subprocess.Popen(argv, env=env | {"CSE_VERBOSE": "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "serving\n"
        argv, env = _cmd(FLAVOURS[client_fl], "upper_client", sid, "hello")
        t0 = time.monotonic()
        client = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert time.monotonic() - t0 < 30
        assert client.returncode == 1 and f"client: {OTHER_ORDER}" in client.stderr, \
            client.stdout + client.stderr
        # the same client binary works against a server of its own byte order
        own = f"endian-own-{client_fl}-{os.getpid()}"
        argv, env = _cmd(FLAVOURS[client_fl], "upper_server", own)
        twin = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert twin.stdout is not None and twin.stdout.readline() == "serving\n"
            argv, env = _cmd(FLAVOURS[client_fl], "upper_client", own, "hello")
            ok = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            assert (ok.returncode, ok.stdout) == (0, "HELLO\n"), ok.stderr
        finally:
            twin.terminate()
            twin.wait(timeout=30)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0
    assert f"refused a client: {OTHER_ORDER}" in err


def test_big_endian_build_is_big_endian() -> None:
    """The premise: the s390x build really is big-endian code."""
    data = Path(FLAVOURS["s390x"].builddir / "examples" / "upper_client").read_bytes()
    assert data[:4] == b"\x7fELF" and data[5] == 2  # ELFDATA2MSB
