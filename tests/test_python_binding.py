"""The Python binding's API (bindings/python, import name `cse`): errors,
buffers, Reply and Batch, Futures and asyncio, server handlers and their
failures, views into slots, closing from anywhere.  Real servers and
clients throughout (in this process, or a C conformance server process);
process-level interop and peer death are in test_python_interop.py and
test_python_conformance.py.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import struct
import threading
import time
from array import array
from collections.abc import Iterator

import pytest
from pycse import peers
from pycse.conf_server import CONF_ECHO, CONF_SLEEP, U32

import cse

SLEEP = CONF_SLEEP


def echo(conn: cse.Conn, code: int, data: memoryview) -> tuple[int, bytes]:
    return code, bytes(data)


@pytest.fixture
def sid() -> str:
    return peers.unique("api")


@pytest.fixture
def c_server() -> Iterator[str]:
    """A C conformance server in its own process."""
    s = peers.unique("c")
    p = peers.start("c", s)
    yield s
    assert peers.stop(p) == 0


# ---- errors ----

def test_errno_mapping() -> None:
    assert isinstance(cse.error(-errno.EINVAL), ValueError)
    e = cse.error(-errno.ECONNRESET)
    assert type(e) is ConnectionResetError and e.errno == errno.ECONNRESET
    assert type(cse.error(-errno.ENOENT)) is FileNotFoundError
    assert type(cse.error(-errno.ECONNREFUSED)) is ConnectionRefusedError
    e = cse.error(-errno.EMSGSIZE)
    assert type(e) is OSError and e.errno == errno.EMSGSIZE
    assert e.strerror == "command too large"  # cse_strerror's name
    assert cse.error(-errno.EDOM).strerror  # not CSE's: the system's name


def test_connect_errors(sid: str) -> None:
    with pytest.raises(FileNotFoundError) as ei:
        cse.Client(sid)
    assert ei.value.errno == errno.ENOENT and "no such server" in str(ei.value)
    for bad in ("", "x" * 64, "a\0b"):
        with pytest.raises(ValueError):
            cse.Client(bad)
    with pytest.raises(TypeError):
        cse.Client(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cse.Client(sid, slots=0)
    with pytest.raises(ValueError):
        cse.Client(sid, submit="pigeon")


@pytest.mark.parametrize("submit", ["fifo", "ctl", "call"])
def test_every_submit_mode_reaches_a_user_server(sid: str, submit: str) -> None:
    # "call" is for kernel servers; to a user server it takes the CS FIFO
    with cse.Server(sid, echo), cse.Client(sid, submit=submit) as c:
        assert c.call(7, b"abc") == (7, b"abc")
        assert c.submit(7, b"xyz").result(timeout=30) == (7, b"xyz")


def test_einval_from_c_is_value_error(sid: str) -> None:
    # slot sizes the runtime refuses (cse_geom_compute: -EINVAL)
    with cse.Server(sid, echo), pytest.raises(ValueError):
        cse.Client(sid, slot_size=(1 << 30, 1 << 30))


def test_name_taken_and_refusal(sid: str) -> None:
    def refuse(conn: cse.Conn) -> None:
        raise ConnectionRefusedError

    with cse.Server(sid, echo, on_open=refuse):
        with pytest.raises(OSError) as ei:
            cse.Server(sid, echo)
        assert ei.value.errno == errno.EADDRINUSE
        with pytest.raises(ConnectionRefusedError):
            cse.Client(sid)


# ---- buffers ----

def test_buffers(sid: str) -> None:
    with cse.Server(sid, echo), cse.Client(sid) as c:
        assert c.call(7, bytearray(b"ab")) == (7, b"ab")
        assert c.call(7, memoryview(b"xabcx")[1:4]).data == b"abc"
        assert c.call(7, array("I", [1, 2])).data == struct.pack("=2I", 1, 2)
        with pytest.raises(BufferError, match="contiguous"):
            c.call(7, memoryview(b"abcdef")[::2])
        with pytest.raises(TypeError, match="str"):
            c.call(7, "text")
        with pytest.raises(TypeError, match="bytes-like"):
            c.call(7, 12)
        with pytest.raises(OSError) as ei:
            c.call(7, bytes(cse.MAX_PAYLOAD + 1))
        assert type(ei.value) is OSError and ei.value.errno == errno.EMSGSIZE
        out = bytearray(10)
        assert c.call_into(7, b"hello", out) == (7, 5) and out[:5] == b"hello"
        with pytest.raises(TypeError, match="writable"):
            c.call_into(7, b"x", b"readonly")
        # the output is capped by out_size, not the server's wishes
        assert c.call(7, b"0123456789", out_size=4).status == cse.OUTPUT_TOO_LARGE_STATUS


def test_reply() -> None:
    r = cse.Reply(3, b"x", cse.BACKUP_MSG)
    status, data = r
    assert (status, data) == (3, b"x") and r == (3, b"x") and r.backup == 1
    assert "status=3" in repr(r)


# ---- server handlers ----

def test_handler_return_forms(sid: str) -> None:
    def h(conn: cse.Conn, code: int, data: memoryview) -> object:
        return {1: 5, 2: (6, None), 3: (7, b"bytes"), 4: (8, bytearray(b"ba")),
                5: (9, memoryview(b"view"))}[code]

    with cse.Server(sid, h), cse.Client(sid) as c:
        assert c.call(1) == (5, b"")
        assert c.call(2) == (6, b"")
        assert c.call(3) == (7, b"bytes")
        assert c.call(4) == (8, b"ba")
        assert c.call(5) == (9, b"view")


def test_handler_writes_output_view(sid: str) -> None:
    def h(conn: cse.Conn, code: int, data: memoryview, out: memoryview) -> tuple[int, int]:
        assert not out.readonly and len(out) == 16
        out[:len(data)] = bytes(data)[::-1]
        return 0, len(data)

    with cse.Server(sid, h), cse.Client(sid) as c:
        assert c.call(1, b"abc", out_size=16) == (0, b"cba")
        assert c.call(1, b"abc" * 10, out_size=16, backup=True).status == cse.HANDLER_ERROR_STATUS


def test_handler_exception_is_a_status_and_a_traceback(
        sid: str, caplog: pytest.LogCaptureFixture) -> None:
    def h(conn: cse.Conn, code: int, data: memoryview) -> tuple[int, bytes]:
        if code == 13:
            raise RuntimeError("unlucky")
        if code == 14:
            return "not a status"  # type: ignore[return-value]
        return 0, bytes(data)

    with caplog.at_level(logging.ERROR, logger="cse.server"):
        with cse.Server(sid, h), cse.Client(sid) as c:
            for backup in (False, True):
                assert c.call(13, b"x", backup=backup).status == cse.HANDLER_ERROR_STATUS
            assert c.call(14).status == cse.HANDLER_ERROR_STATUS
            assert c.call(1, b"still serving") == (0, b"still serving")
    assert cse.HANDLER_ERROR_STATUS == -errno.EIO
    assert "RuntimeError: unlucky" in caplog.text and "Traceback" in caplog.text


def test_input_is_a_copy_by_default(sid: str) -> None:
    kept: list[memoryview] = []

    def h(conn: cse.Conn, code: int, data: memoryview) -> int:
        kept.append(data)
        return 0

    with cse.Server(sid, h), cse.Client(sid) as c:
        c.call(1, b"first")
        c.call(1, b"second")
    assert [bytes(m) for m in kept] == [b"first", b"second"]  # still valid, unchanged


def test_zero_copy_views_end_with_the_call(sid: str, caplog: pytest.LogCaptureFixture) -> None:
    kept: list[memoryview] = []

    def h(conn: cse.Conn, code: int, data: memoryview, out: memoryview) -> tuple[int, int]:
        if code == 1:
            kept.append(data)  # the view itself: released after the call
        elif code == 2:
            kept.append(data[1:])  # a view derived from it: a leak, refused
        out[:len(data)] = data
        return 0, len(data)

    with caplog.at_level(logging.ERROR, logger="cse.server"):
        with cse.Server(sid, h, zero_copy=True), cse.Client(sid) as c:
            assert c.call(1, b"abc") == (0, b"abc")
            with pytest.raises(ValueError, match="released"):
                bytes(kept[0])
            assert c.call(2, b"abc").status == cse.HANDLER_ERROR_STATUS
            assert c.call(3, b"fine") == (0, b"fine")
    assert "ViewLeak" in caplog.text


def test_on_open_on_close_once_each(sid: str) -> None:
    events: list[tuple[str, int]] = []

    def opened(conn: cse.Conn) -> None:
        conn.context = f"ctx{conn.id}"
        events.append(("open", conn.id))

    def closed(conn: cse.Conn) -> None:
        events.append(("close", conn.id))

    def h(conn: cse.Conn, code: int, data: memoryview) -> tuple[int, bytes]:
        return 0, conn.context.encode()

    with cse.Server(sid, h, on_open=opened, on_close=closed) as srv:
        with cse.Client(sid) as a, cse.Client(sid) as b:
            assert a.call(0).data == b"ctx1" and b.call(0).data == b"ctx2"
            assert srv.connections == 2
        deadline = time.monotonic() + 10
        while srv.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        with cse.Client(sid) as c:
            c.call(0)
    # the third connection closes when the server does
    assert sorted(events) == [("close", 1), ("close", 2), ("close", 3),
                              ("open", 1), ("open", 2), ("open", 3)]


def test_workers_and_default_exec(sid: str) -> None:
    """Inline calls run one at a time on the connection's turn; worker calls
    (and, with default_exec="worker", calls without exec) overlap."""
    def h(conn: cse.Conn, code: int, data: memoryview) -> tuple[int, bytes]:
        time.sleep(0.2)
        return 0, b""

    def three(c: cse.Client, exec: str | None) -> float:
        threads = [threading.Thread(target=c.call, args=(0,), kwargs={"exec": exec})
                   for _ in range(3)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - t0

    with cse.Server(sid, h, workers=3, default_exec="worker"), cse.Client(sid) as c:
        assert three(c, "inline") >= 0.6
        assert three(c, "worker") < 0.5
        assert three(c, None) < 0.5
    with pytest.raises(ValueError):
        cse.Server(sid, h, default_exec="elsewhere")
    with pytest.raises(TypeError, match="handler"):
        cse.Server(sid, lambda a, b: 0)


# ---- closing ----

def test_server_close_from_a_handler(sid: str) -> None:
    srv: cse.Server

    def h(conn: cse.Conn, code: int, data: memoryview) -> int:
        srv.close()  # must not wait for itself
        return 0

    srv = cse.Server(sid, h)
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    with cse.Client(sid) as c:
        try:  # the server may be gone before its reply is seen
            assert c.call(1).status == 0
        except ConnectionResetError:
            pass
        t.join(timeout=10)
        assert not t.is_alive() and srv.closed
        with pytest.raises(ConnectionResetError):
            c.call(1)


def test_server_close_completes_clients(sid: str) -> None:
    def h(conn: cse.Conn, code: int, data: memoryview) -> int:
        time.sleep(0.3)
        return 0

    finished: list[int] = []

    def closed(conn: cse.Conn) -> None:
        finished.append(conn.id)

    srv = cse.Server(sid, h, on_close=closed)
    c = cse.Client(sid)
    fut = c.submit(1, exec="worker")
    time.sleep(0.05)
    srv.close()  # the running handler finishes, then on_close runs
    assert finished == [1]
    assert isinstance(fut.exception(timeout=10), ConnectionResetError)
    with pytest.raises(ConnectionResetError):
        c.call(1)
    c.close()


def test_client_close_while_others_call(c_server: str) -> None:
    c = cse.Client(c_server, connect_timeout=10)
    results: list[object] = []

    def caller() -> None:
        try:
            results.append(c.call(SLEEP, U32.pack(300), out_size=4).status)
        except Exception as e:  # noqa: BLE001 -- recorded and checked
            results.append(e)

    t = threading.Thread(target=caller)
    t.start()
    fut = c.submit(SLEEP, U32.pack(5000), out_size=4, exec="worker")
    time.sleep(0.1)
    c.close()  # waits for the synchronous caller; the future completes as reset
    t.join(timeout=10)
    assert results == [0]
    assert isinstance(fut.exception(timeout=10), ConnectionResetError)
    assert c.closed
    for op in (lambda: c.call(1), lambda: c.submit(1), lambda: c.call_many(1, count=1,
                                                                           out_size=0)):
        with pytest.raises(ValueError, match="closed"):
            op()
    c.close()  # twice is fine


def test_collected_client_disconnects(c_server: str) -> None:
    c = cse.Client(c_server, connect_timeout=10)
    fut = c.submit(CONF_ECHO, b"x")
    assert fut.result(timeout=10).data == b"x"
    threads = threading.active_count()
    del c
    gc.collect()
    deadline = time.monotonic() + 10
    while threading.active_count() >= threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() < threads  # the dispatcher is gone


# ---- waiting without the GIL ----

def test_call_releases_the_gil(c_server: str) -> None:
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    with cse.Client(c_server, connect_timeout=10, spin_ns=0) as c:
        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.05)
        before = ticks
        assert c.call(SLEEP, U32.pack(500), out_size=4).status == 0
        during = ticks - before
        stop.set()
        t.join()
    # Holding the GIL for 0.5 s would have left the spinner a few switch
    # intervals at most; it got the whole time.
    assert during > 100_000, during


# ---- asynchronous ----

def test_futures_and_asyncio(c_server: str) -> None:
    with cse.Client(c_server, connect_timeout=10) as c:
        futs = [c.submit(CONF_ECHO, U32.pack(i), out_size=4) for i in range(500)]
        assert [f.result(timeout=30).data for f in futs] == [U32.pack(i) for i in range(500)]
        assert not futs[0].cancel()  # in flight: cannot be withdrawn

        async def main() -> None:
            loop_thread = threading.get_ident()
            seen: list[int] = []
            fut = asyncio.ensure_future(c.acall(CONF_ECHO, b"a"))
            fut.add_done_callback(lambda f: seen.append(threading.get_ident()))
            assert (await fut) == (0, b"a")
            await asyncio.sleep(0)
            assert seen == [loop_thread]  # delivered on the loop's thread
            replies = await asyncio.gather(*(c.acall(CONF_ECHO, bytes([i])) for i in range(256)))
            assert [r.data for r in replies] == [bytes([i]) for i in range(256)]
            # a cancelled await leaves the command to complete and be dropped
            t = asyncio.ensure_future(c.acall(SLEEP, U32.pack(100), out_size=4))
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert (await c.acall(CONF_ECHO, b"after")).data == b"after"

        asyncio.run(main())


def test_batch(c_server: str) -> None:
    with cse.Client(c_server, connect_timeout=10) as c:
        n = 1000
        data = b"".join(U32.pack(i * 7) for i in range(n))
        b = c.call_many(CONF_ECHO, data, count=n, out_size=8)
        assert len(b) == n and b.failed == 0
        assert isinstance(b.statuses, array) and b.statuses.typecode == "i"
        assert list(b.lengths) == [4] * n
        assert bytes(b.data(5)) == U32.pack(35) and b[5] == (0, U32.pack(35))
        codes = array("I", [CONF_ECHO, 0xDEAD] * 50)
        b = c.call_many(codes, b"ab" * 100, out_size=2, window=4)
        assert list(b.statuses) == [0, 1001] * 50
        assert c.call_many(CONF_ECHO, count=0, out_size=0).failed == 0
        with pytest.raises(ValueError, match="equal"):
            c.call_many(CONF_ECHO, b"abc", count=2, out_size=1)
        with pytest.raises(ValueError, match="window"):
            c.call_many(CONF_ECHO, b"ab", count=2, out_size=1, window=65)


def test_batch_against_a_dying_server(sid: str) -> None:
    p = peers.start("c", sid)
    with cse.Client(sid, connect_timeout=10) as c:
        threading.Timer(0.3, p.kill).start()
        b = c.call_many(SLEEP, U32.pack(1) * 5000, count=5000, out_size=4, window=8)
        p.wait()
        resets = b.results.tolist().count(-errno.ECONNRESET)
        assert resets > 0 and resets + b.results.tolist().count(0) == 5000
        with pytest.raises(ConnectionResetError):
            b.check()


def test_every_public_name_has_a_docstring() -> None:
    import inspect

    missing = []
    for name in cse.__all__:
        obj = getattr(cse, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not (obj.__doc__ or "").strip():
                missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(member)
                                               or isinstance(member, property)):
                    continue
                if not (member.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing, missing
    assert (cse.__file__ and __import__("pathlib").Path(cse.__file__).with_name("py.typed")
            .exists())


def test_fork_leaves_the_parents_connections_alone(c_server: str, sid: str) -> None:
    """A child of fork() finds its inherited clients closed and its servers
    gone, and exits without touching the parent's runtime threads, which
    it does not have; the parent's go on."""
    import os

    srv = cse.Server(sid, echo)
    c = cse.Client(c_server, connect_timeout=10)
    assert c.submit(CONF_ECHO, b"x").result(timeout=10).data == b"x"  # a dispatcher too
    pid = os.fork()
    if pid == 0:  # the child: no pytest from here on
        ok = c.closed and srv.closed
        try:
            c.call(CONF_ECHO, b"x")
            ok = False
        except ValueError:
            pass
        import atexit
        atexit._run_exitfuncs()  # the interpreter's exit path: must not hang
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.call(CONF_ECHO, b"parent").data == b"parent"
    with cse.Client(sid) as mine:
        assert mine.call(5, b"still") == (5, b"still")
    c.close()
    srv.close()
