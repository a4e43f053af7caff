#!/usr/bin/env python3
"""One Python benchmark job: a client here, its server in a forked child
process (made before either side opens anything, so the child starts
clean), and one JSON record on stdout, like bench-cse's.

  py_peers.py sync MECH PAYLOAD ITERS
      a synchronous echo of PAYLOAD bytes, ITERS round trips timed one by
      one; MECH is one of SYNC_MECHS
  py_peers.py async MODE INFLIGHT ITERS SERVER_ID
      64-byte echoes to a running C conformance server (cse-conf-helper),
      INFLIGHT in flight, from this one Python thread: MODE batch
      (Client.call_many), submit (a Future each) or acall (asyncio)

Every mechanism is written the way a Python developer would use it, its
round trip inlined in its own timing loop, and checks its echo once.  The
client and the server run on two different CPUs (all their threads): left
to the scheduler, the two ends of a spin-then-sleep mechanism often share a
CPU on this 2-core machine, where each end then spins out its whole budget
before the other can run (about 115 us a round trip, run to run).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import multiprocessing
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable

SYNC_MECHS = ("python_cse", "python_busypoll", "python_iceoryx2", "python_zmq",
              "python_mp_pipe", "python_socketpair")
ASYNC_MODES = {"batch": "python_cse_batch", "submit": "python_cse_submit",
               "acall": "python_cse_acall"}
WARMUP = 2000
CONF_ECHO = 1

_ctx = multiprocessing.get_context("fork")
pc = time.perf_counter_ns


def record(case: str, mech: str, payload: int, inflight: int, lat: list[int],
           total_ns: int, ops: int) -> dict:
    lat.sort()
    return {"case": case, "mechanism": mech, "payload": payload, "inflight": inflight,
            "p50_ns": lat[len(lat) // 2], "p99_ns": lat[min(len(lat) - 1, len(lat) * 99 // 100)],
            "ops_per_s": round(ops * 1e9 / total_ns, 1)}


def pin(role: int) -> None:
    """Run this process (and the threads it starts) on CPU @role (0: the
    client's, 1: the server's) of those it may use, when there are two."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[role]})


def _server_main(target: Callable, *args: object) -> None:
    pin(1)
    target(*args)


def fork_server(target: Callable, *args: object) -> tuple[multiprocessing.Process, object]:
    """Start @target(ready, stop, *args) in a child, on the server's CPU;
    wait until it is ready."""
    ready, stop = _ctx.Event(), _ctx.Event()
    p = _ctx.Process(target=_server_main, args=(target, ready, stop, *args), daemon=True)
    p.start()
    pin(0)
    if not ready.wait(60):
        raise RuntimeError("the server did not start")
    return p, stop


def end_server(p: multiprocessing.Process, stop: object) -> None:
    stop.set()  # type: ignore[attr-defined]
    p.join(10)
    if p.is_alive():
        p.kill()
        p.join()


# ---- python_cse ----

def cse_server(ready: object, stop: object, sid: str) -> None:
    import cse
    with cse.Server(sid, lambda conn, code, data: (0, data)):
        ready.set()  # type: ignore[attr-defined]
        stop.wait()  # type: ignore[attr-defined]


def run_cse(payload: int, iters: int) -> list[int]:
    import cse
    sid = f"bench-py-{os.getpid()}"
    p, stop = fork_server(cse_server, sid)
    try:
        d = os.urandom(payload)
        with cse.Client(sid, connect_timeout=10) as c:
            call = c.call
            assert call(CONF_ECHO, d).data == d
            for _ in range(WARMUP):
                call(CONF_ECHO, d)
            lat = [0] * iters
            for i in range(iters):
                t0 = pc()
                call(CONF_ECHO, d)
                lat[i] = pc() - t0
            return lat
    finally:
        end_server(p, stop)


# ---- python_busypoll: the Python floor ----

# Shared words, as indices of 8-byte words: the request's sequence number
# and length (one cache line, written by the client), the reply's sequence
# number (the next line, written by the server); then the two data areas.
REQ, LEN, REP = 0, 1, 8
AREA = 128  # bytes
STOP_LEN = 1 << 62


def busypoll_server(ready: object, stop: object, m: mmap.mmap, payload: int) -> None:
    w = memoryview(m).cast("Q")
    mv = memoryview(m)
    inp, out = AREA, AREA + payload
    ready.set()  # type: ignore[attr-defined]
    seq = 0
    while True:
        seq += 1
        while w[REQ] != seq:
            pass
        n = w[LEN]
        if n == STOP_LEN:
            return
        mv[out:out + n] = mv[inp:inp + n]
        w[REP] = seq


def run_busypoll(payload: int, iters: int) -> list[int]:
    m = mmap.mmap(-1, AREA + 2 * payload)
    p, stop = fork_server(busypoll_server, m, payload)
    w = memoryview(m).cast("Q")
    mv = memoryview(m)
    inp, out = AREA, AREA + payload
    d = os.urandom(payload)
    seq = 0
    lat = [0] * iters
    try:
        for i in range(-WARMUP, iters):
            t0 = pc()
            seq += 1
            mv[inp:inp + payload] = d
            w[LEN] = payload
            w[REQ] = seq
            while w[REP] != seq:
                pass
            r = bytes(mv[out:out + payload])
            if i >= 0:
                lat[i] = pc() - t0
        assert r == d
        return lat
    finally:
        w[LEN] = STOP_LEN
        w[REQ] = seq + 1
        end_server(p, stop)


# ---- python_iceoryx2: its request-response API ----

def iox_service(name: str, payload: int) -> tuple[object, object]:
    import iceoryx2 as iox2
    iox2.set_log_level(iox2.LogLevel.Error)
    t = ctypes.c_uint8 * payload
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    svc = (node.service_builder(iox2.ServiceName.new(name))
           .request_response(t, t).open_or_create())
    return node, svc


def iox_server(ready: object, stop: object, name: str, payload: int) -> None:
    node, svc = iox_service(name, payload)
    srv = svc.server_builder().create()  # type: ignore[attr-defined]
    receive = srv.receive
    ready.set()  # type: ignore[attr-defined]
    while not stop.is_set():  # type: ignore[attr-defined]
        for _ in range(10000):
            req = receive()
            if req is None:
                continue
            req.send_copy(req.payload().contents)
            req.delete()


def run_iceoryx2(payload: int, iters: int) -> list[int]:
    name = f"cse-bench/py/{os.getpid()}"
    p, stop = fork_server(iox_server, name, payload)
    try:
        node, svc = iox_service(name, payload)
        client = svc.client_builder().create()  # type: ignore[attr-defined]
        d = os.urandom(payload)
        buf = (ctypes.c_uint8 * payload).from_buffer_copy(d)
        send = client.send_copy
        # The server's port may connect a moment after ours: wait for a reply.
        deadline = time.monotonic() + 30
        while True:
            pending = send(buf)
            t_end = time.monotonic() + 0.5
            r = None
            while r is None and time.monotonic() < t_end:
                r = pending.receive()
            if r is not None or time.monotonic() > deadline:
                break
        assert r is not None and bytes(r.payload().contents) == d
        lat = [0] * iters
        for i in range(-WARMUP, iters):
            t0 = pc()
            pending = send(buf)
            r = None
            while r is None:
                r = pending.receive()
            out = bytes(r.payload().contents)
            r.delete()
            pending.delete()
            if i >= 0:
                lat[i] = pc() - t0
        assert out == d
        return lat
    finally:
        end_server(p, stop)


# ---- python_zmq: REQ/REP over ipc:// ----

def zmq_server(ready: object, stop: object, addr: str) -> None:
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    s.bind(addr)
    ready.set()  # type: ignore[attr-defined]
    while True:
        m = s.recv()
        s.send(m)
        if not m:
            break
    s.close()
    ctx.term()


def run_zmq(payload: int, iters: int) -> list[int]:
    import zmq
    path = f"/tmp/cse-bench-zmq-{os.getpid()}"
    addr = f"ipc://{path}"
    p, stop = fork_server(zmq_server, addr)
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.connect(addr)
    d = os.urandom(payload)
    send, recv = s.send, s.recv
    lat = [0] * iters
    try:
        for i in range(-WARMUP, iters):
            t0 = pc()
            send(d)
            r = recv()
            if i >= 0:
                lat[i] = pc() - t0
        assert r == d
        return lat
    finally:
        send(b"")
        recv()
        s.close()
        ctx.term()
        end_server(p, stop)
        try:
            os.unlink(path)
        except OSError:
            pass


# ---- python_mp_pipe: multiprocessing.Pipe ----

def pipe_server(ready: object, stop: object, conn: object) -> None:
    recv, send = conn.recv_bytes, conn.send_bytes  # type: ignore[attr-defined]
    ready.set()  # type: ignore[attr-defined]
    while True:
        m = recv()
        if not m:
            return
        send(m)


def run_mp_pipe(payload: int, iters: int) -> list[int]:
    a, b = _ctx.Pipe()
    p, stop = fork_server(pipe_server, b)
    d = os.urandom(payload)
    send, recv = a.send_bytes, a.recv_bytes
    lat = [0] * iters
    try:
        for i in range(-WARMUP, iters):
            t0 = pc()
            send(d)
            r = recv()
            if i >= 0:
                lat[i] = pc() - t0
        assert r == d
        return lat
    finally:
        send(b"")
        end_server(p, stop)


# ---- python_socketpair: AF_UNIX stream, like the C baseline ----

def recv_exactly(s: socket.socket, buf: memoryview) -> None:
    got = 0
    while got < len(buf):
        n = s.recv_into(buf[got:])
        if not n:
            raise EOFError
        got += n


def socket_server(ready: object, stop: object, s: socket.socket, payload: int) -> None:
    buf = memoryview(bytearray(payload))
    ready.set()  # type: ignore[attr-defined]
    try:
        while True:
            recv_exactly(s, buf)
            s.sendall(buf)
    except EOFError:
        return


def run_socketpair(payload: int, iters: int) -> list[int]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p, stop = fork_server(socket_server, b, payload)
    b.close()
    d = os.urandom(payload)
    buf = bytearray(payload)
    view = memoryview(buf)
    sendall, recv_into = a.sendall, a.recv_into
    lat = [0] * iters
    try:
        for i in range(-WARMUP, iters):
            t0 = pc()
            sendall(d)
            got = recv_into(view)
            while got < payload:  # a stream may deliver it in pieces
                got += recv_into(view[got:])
            r = bytes(buf)
            if i >= 0:
                lat[i] = pc() - t0
        assert r == d
        return lat
    finally:
        a.close()
        end_server(p, stop)


SYNC = {"python_cse": run_cse, "python_busypoll": run_busypoll,
        "python_iceoryx2": run_iceoryx2, "python_zmq": run_zmq,
        "python_mp_pipe": run_mp_pipe, "python_socketpair": run_socketpair}


def sync(mech: str, payload: int, iters: int) -> dict:
    t0 = pc()
    lat = SYNC[mech](payload, iters)
    # ops/s from the timed round trips alone (not the setup around them)
    return record("py_sync_rtt", mech, payload, 1, lat, sum(lat) or (pc() - t0), iters)


# ---- asynchronous throughput, one Python thread, a C server ----

def async_batch(c: object, inflight: int, iters: int) -> tuple[list[int], int]:
    n = 10_000 if iters >= 10_000 else iters
    data = os.urandom(64) * n
    b = c.call_many(CONF_ECHO, data, count=n, out_size=64, window=inflight)  # type: ignore
    assert b.failed == 0 and bytes(b.output) == data
    per, total = [], 0
    for _ in range(max(1, iters // n)):
        t0 = pc()
        b = c.call_many(CONF_ECHO, data, count=n, out_size=64, window=inflight)  # type: ignore
        dt = pc() - t0
        total += dt
        per.append(dt // n)  # ns per command, this batch
        assert b.failed == 0
    return per, total


def async_submit(c: object, inflight: int, iters: int) -> tuple[list[int], int]:
    d = os.urandom(64)
    submit = c.submit  # type: ignore[attr-defined]
    window: deque = deque()
    lat: list[int] = []
    t_start = pc()
    for _ in range(iters):
        if len(window) == inflight:
            t0, f = window.popleft()
            f.result()
            lat.append(pc() - t0)
        window.append((pc(), submit(CONF_ECHO, d, out_size=64)))
    for t0, f in window:
        assert f.result().data == d
        lat.append(pc() - t0)
    return lat, pc() - t_start


def async_acall(c: object, inflight: int, iters: int) -> tuple[list[int], int]:
    import asyncio
    d = os.urandom(64)
    acall = c.acall  # type: ignore[attr-defined]
    lat: list[int] = []

    async def main() -> int:
        t_start = pc()
        for _ in range(iters // inflight):
            t0 = pc()
            rs = await asyncio.gather(*[acall(CONF_ECHO, d, out_size=64)
                                        for _ in range(inflight)])
            lat.append(pc() - t0)  # issue -> done, every command of the round
            assert rs[-1].data == d
        return pc() - t_start

    return lat, asyncio.run(main())


ASYNC = {"batch": async_batch, "submit": async_submit, "acall": async_acall}


def run_async(mode: str, inflight: int, iters: int, server_id: str) -> dict:
    import cse
    pin(0)
    with cse.Client(server_id, connect_timeout=10) as c:
        lat, total = ASYNC[mode](c, inflight, iters)
    done = (iters // 10_000 or 1) * min(iters, 10_000) if mode == "batch" else \
        (iters // inflight) * inflight if mode == "acall" else iters
    return record("py_async_tput", ASYNC_MODES[mode], 64, inflight, lat, total, done)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "sync" and argv[1] in SYNC:
        rec = sync(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 5 and argv[0] == "async" and argv[1] in ASYNC:
        rec = run_async(argv[1], int(argv[2]), int(argv[3]), argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
