"""The Python binding across processes, with C and Python peers:

- the README's Python server and client (examples/python) with the C
  examples both ways and with each other, and the asyncio form;
- Ctrl-C stops a Python server cleanly, and its clients see it gone;
- a client killed (SIGKILL) mid-command, Python or C: the Python server's
  on_close runs once, after the command's handler finished;
- a server that lies (test-hostile-server's modes, a garbage handshake):
  the Python client gets a clean error, each command completes once.
The conformance scenarios, server death included, are in
test_python_conformance.py.
"""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycse import CONF_SERVER, peers
from pycse.conf_server import CONF_ECHO, U32

import cse
from testbed.builds import FLAVOURS, ROOT

BUILD = FLAVOURS["linux"].builddir
PYEX = ROOT / "examples" / "python"


def _compile(name: str, out: Path) -> Path:
    lib = BUILD
    if not (lib / "libcse.so").exists():
        pytest.fail(f"{lib}/libcse.so missing: run `make test`")
    subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                    "-I", str(ROOT / "cse/include"), str(ROOT / "examples" / name), "-o",
                    str(out), "-L", str(lib), "-lcse", f"-Wl,-rpath,{lib}"],
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def c_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("c-examples")
    return {n: _compile(f"{n}.c", d / n) for n in ("upper_server", "upper_client")}


def _foreground_signals() -> None:
    """Ctrl-C as in a terminal's foreground: a test run started in the
    background (`make test &`) passes SIGINT on ignored, and Python then
    installs no KeyboardInterrupt for it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _server(argv: list[str]) -> subprocess.Popen:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_foreground_signals)
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    assert line == "serving", f"{argv}: {line!r} {p.stderr.read() if p.poll() else ''}"
    return p


def _past_its_banner() -> None:
    """A server prints "serving" just before serve_forever(): Ctrl-C between
    the two ends it, as any Python program, by KeyboardInterrupt (-SIGINT,
    seen once under load).  Give it time to get there."""
    time.sleep(1)


def _run(argv: list[str]) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r.stdout.strip()


PY = sys.executable


@pytest.mark.parametrize("server,client", [("python", "c"), ("c", "python"),
                                           ("python", "python")])
def test_readme_examples_across_languages(server: str, client: str,
                                          c_examples: dict[str, Path]) -> None:
    sid = peers.unique(f"upper-{server}")
    srv = _server([PY, str(PYEX / "upper_server.py"), sid] if server == "python"
                  else [str(c_examples["upper_server"]), sid])
    try:
        argv = [PY, str(PYEX / "upper_client.py")] if client == "python" \
            else [str(c_examples["upper_client"])]
        assert _run([*argv, sid, "hello, kernel"]) == "HELLO, KERNEL"
        if client == "python":
            assert _run([PY, str(PYEX / "upper_async.py"), sid, "a", "b", "c"]) == "A B C"
    finally:
        _past_its_banner()
        srv.send_signal(signal.SIGINT)  # Ctrl-C: both servers stop cleanly on it
        assert srv.wait(timeout=30) == 0
        assert srv.stderr is not None
        assert "Traceback" not in srv.stderr.read()


def test_readme_shows_the_python_examples() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("upper_server.py", "upper_client.py", "upper_async.py"):
        body = (PYEX / name).read_text().strip()
        assert body in readme, f"README's copy of examples/python/{name} is out of date"


def test_ctrl_c_stops_a_python_server_with_clients() -> None:
    sid = peers.unique("ctrl-c")
    srv = _server([PY, str(PYEX / "upper_server.py"), sid])
    with cse.Client(sid, connect_timeout=10) as c:
        assert c.call(1, b"x").data == b"X"
        _past_its_banner()
        t0 = time.monotonic()
        srv.send_signal(signal.SIGINT)
        assert srv.wait(timeout=30) == 0
        assert time.monotonic() - t0 < 5
        with pytest.raises(ConnectionResetError):
            c.call(1, b"x")


# ---- clients that die ----

@pytest.fixture
def watched_server() -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """A Python server in this process recording its handlers' ends and its
    on_close calls, with their times."""
    events: list[tuple[str, float]] = []
    sid = peers.unique("watched")

    def handler(conn: cse.Conn, code: int, data: memoryview) -> tuple[int, bytes]:
        if code == 3:  # CONF_SLEEP, as the doomed clients send it
            time.sleep(U32.unpack(data)[0] / 1000)
        events.append(("exec-end", time.monotonic()))
        return 0, bytes(data)

    def closed(conn: cse.Conn) -> None:
        events.append(("close", time.monotonic()))

    with cse.Server(sid, handler, on_close=closed):
        yield sid, events


@pytest.mark.parametrize("kind", ["python", "c"])
def test_killed_client_closes_once_after_its_command(
        kind: str, watched_server: tuple[str, list[tuple[str, float]]]) -> None:
    sid, events = watched_server
    argv = [PY, str(CONF_SERVER)] if kind == "python" else [str(peers.C_HELPER)]
    doomed = subprocess.Popen([*argv, "doomed-client", sid, "500"], stdout=subprocess.PIPE,
                              text=True)
    assert doomed.stdout is not None
    assert "connected" in doomed.stdout.readline()
    time.sleep(0.15)
    doomed.kill()
    doomed.wait()
    deadline = time.monotonic() + 10
    while not any(e == "close" for e, _ in events) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a second close would come now
    names = [e for e, _ in events]
    assert names == ["exec-end", "close"], names  # once, after the running handler


# ---- servers that lie ----

def _hostile(mode: str) -> tuple[str, subprocess.Popen]:
    sid = peers.unique(f"evil-{mode}")
    binary = BUILD / "tests/unit/test-hostile-server"
    if not binary.exists():
        pytest.fail(f"{binary} missing: run `make test`")
    return sid, subprocess.Popen([str(binary), "--serve", sid, mode])


def test_server_pushing_garbage_offsets() -> None:
    sid, p = _hostile("sc-garbage")
    try:
        with cse.Client(sid, connect_timeout=10) as c:
            assert c.call(CONF_ECHO, b"honest").data == b"honest"
            futs = []
            for i in range(4):
                try:
                    futs.append(c.submit(77 if i == 0 else CONF_ECHO, U32.pack(i)))
                except ConnectionResetError:
                    assert i > 0  # it already caught the lie of command 0
            for f in futs:
                e = f.exception(timeout=10)
                assert isinstance(e, OSError) and e.errno in (errno.EPROTO, errno.ECONNRESET)
            with pytest.raises(ConnectionResetError):
                c.call(CONF_ECHO, b"still there?")
    finally:
        p.kill()
        p.wait()


def test_server_writing_impossible_state() -> None:
    sid, p = _hostile("bad-state")
    try:
        with cse.Client(sid, connect_timeout=10) as c:
            out = bytearray(b"\xa5" * 16)
            with pytest.raises(OSError) as ei:
                c.call_into(77, U32.pack(9), memoryview(out)[:4])
            assert ei.value.errno == errno.EPROTO
            assert out[4:] == b"\xa5" * 12  # nothing written past the output
    finally:
        p.kill()
        p.wait()


def test_garbage_handshake() -> None:
    sid = peers.unique("evil-hello")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    lsock.bind(b"\0cse." + sid.encode())  # the Linux backend's address
    lsock.listen(1)

    def fake() -> None:
        conn, _ = lsock.accept()
        conn.recv(256)
        conn.send(b"\x6b" * 32)
        time.sleep(0.1)
        conn.close()

    t = threading.Thread(target=fake)
    t.start()
    try:
        with pytest.raises(OSError) as ei:
            cse.Client(sid)
        assert ei.value.errno == errno.EPROTO
    finally:
        t.join(timeout=10)
        lsock.close()
