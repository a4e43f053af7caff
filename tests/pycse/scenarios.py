"""Conformance scenarios from Python: the promises of tests/conformance that
a Python client can observe, written with the binding, run against any
conformance server (C, Python or in the kernel).

Each scenario is a function of a World and fails with ScenarioFailed (an
AssertionError) saying why, or skips with Skip.  One runs alone in its
process or pytest item; they share nothing.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cse

from . import CONF_SERVER
from .conf_server import (
    CONF_ECHO,
    CONF_FILL,
    CONF_SLEEP,
    CONF_STATS,
    CONF_STATUS_OK,
    CONF_STATUS_UNKNOWN,
    STAT_FIELDS,
    STATS,
    U32,
    pattern,
)

CONNECT_TIMEOUT_S = 10.0


class ScenarioFailed(AssertionError):
    """A promise was broken; the message says which."""


class Skip(Exception):  # noqa: N818 -- reads as what it does: raise Skip("why")
    """This world cannot run the scenario; the message says why."""


@dataclass
class World:
    """Where the scenarios run: the conformance servers to use, and what this
    world can do (start a server that can be killed, start a client process
    to kill)."""

    server_id: str
    worker_server_id: str
    #: start a private conformance server that can die; None: this world cannot
    spawn_server: Callable[[str], subprocess.Popen] | None = None
    #: what a synchronous backup command reports: BACKUP_CALL to a kernel server
    sync_backup: int = cse.BACKUP_MSG
    #: argv of the program that plays the doomed client (conf_server.py's CLI)
    doomed_client: list[str] = field(default_factory=lambda: [sys.executable,
                                                              str(CONF_SERVER)])
    log: Callable[[str], None] = print


def check(cond: object, why: str) -> None:
    """Fail the scenario with @why unless @cond."""
    if not cond:
        raise ScenarioFailed(why)


def connect(world: World, server_id: str | None = None, **opts: object) -> cse.Client:
    return cse.Client(server_id or world.server_id, connect_timeout=CONNECT_TIMEOUT_S,
                      **opts)  # type: ignore[arg-type]


def stats(c: cse.Client) -> dict[str, int]:
    r = c.call(CONF_STATS, b"", out_size=STATS.size)
    check(r.status == CONF_STATUS_OK and len(r.data) == STATS.size,
          f"STATS: status {r.status}, {len(r.data)} bytes")
    return dict(zip(STAT_FIELDS, STATS.unpack(r.data), strict=True))


def data(seed: int, n: int) -> bytes:
    return pattern(seed & 0xFF, n)


# ---- echo ----

def echo(world: World) -> None:
    with connect(world) as c:
        for i, size in enumerate((1, 64, 1000, 4096)):
            d = data(i, size)
            r = c.call(CONF_ECHO, d)
            check(r.status == CONF_STATUS_OK, f"echo {size}: status {r.status}")
            check(r.data == d, f"echo {size}: got {len(r.data)} bytes back, not the same")
            check(r.backup == cse.SLOT, f"echo {size}: a fitting command took the backup path")
            status, back = r  # a Reply unpacks as (status, data)
            check((status, back) == (0, d), "Reply does not unpack as (status, data)")


# ---- default copies ----

def default_copies(world: World) -> None:
    with connect(world) as c:
        for backup in (False, True):
            inp = bytearray(data(7, 100))
            before = bytes(inp)
            out = bytearray(b"\xee" * 200)
            status, n = c.call_into(CONF_ECHO, inp, out, backup=backup)
            check(status == 0 and n == 100, f"call_into: status {status}, {n} bytes")
            check(out[:100] == before, "output not copied")
            check(out[100:] == b"\xee" * 100, "the copy wrote past the output's length")
            check(inp == before, "input buffer modified")
            r = c.call(CONF_ECHO, memoryview(inp)[10:60], backup=backup)
            want = world.sync_backup if backup else cse.SLOT
            check(r.backup == want, f"backup {r.backup}, want {want}")
            check(r.data == before[10:60], "a memoryview slice as input")
            check(isinstance(r.data, bytes), "Reply.data is not a copy (bytes)")


# ---- async, many in flight ----

ASYNC_TOTAL = 2000
ASYNC_WINDOW = 32


def async_many_inflight(world: World) -> None:
    """Futures (a window of 32), asyncio, and a batch: every command completes
    exactly once with its own echo."""
    import asyncio

    with connect(world) as c:
        done = [0] * ASYNC_TOTAL
        bad: list[str] = []
        window = threading.Semaphore(ASYNC_WINDOW)

        def finished(seq: int, want: bytes) -> Callable:
            def cb(f: object) -> None:
                r = f.result()  # type: ignore[attr-defined]
                done[seq] += 1
                if r.status or r.data != want:
                    bad.append(f"{seq}: status {r.status} data {r.data!r}")
                window.release()
            return cb

        futs = []
        for seq in range(ASYNC_TOTAL):
            want = U32.pack(seq * 2654435761 & 0xFFFFFFFF)
            window.acquire()
            f = c.submit(CONF_ECHO, want, out_size=4)
            f.add_done_callback(finished(seq, want))
            futs.append(f)
        for f in futs:
            f.result(timeout=60)
        time.sleep(0.05)
        check(not bad, f"{len(bad)} bad completions: {bad[:3]}")
        check(done == [1] * ASYNC_TOTAL,
              f"completions per command: {sorted(set(done))} (want exactly 1)")

        async def many() -> list[cse.Reply]:
            return await asyncio.gather(*(c.acall(CONF_ECHO, U32.pack(i), out_size=4)
                                          for i in range(ASYNC_TOTAL)))
        replies = asyncio.run(many())
        check([r.data for r in replies] == [U32.pack(i) for i in range(ASYNC_TOTAL)],
              "acall: some replies differ")

        inputs = b"".join(U32.pack(i) for i in range(ASYNC_TOTAL))
        b = c.call_many(CONF_ECHO, inputs, count=ASYNC_TOTAL, out_size=4, window=32)
        check(b.failed == 0, f"batch: {b.failed} commands failed")
        check(set(b.lengths) == {4} and set(b.statuses) == {0}, "batch: bad lengths/statuses")
        check(bytes(b.output) == inputs, "batch: outputs differ")
    world.log(f"{ASYNC_TOTAL} commands each as Futures ({ASYNC_WINDOW} in flight), "
              "acall and one batch")


# ---- several clients, several threads per client ----

MT_CLIENTS, MT_THREADS, MT_ITERS = 3, 4, 300


def multi_client_threads(world: World) -> None:
    clients = [connect(world, world.worker_server_id if i else world.server_id)
               for i in range(MT_CLIENTS)]
    failures: list[str] = []

    def run(t: int) -> None:
        c = clients[t % MT_CLIENTS]
        for i in range(MT_ITERS):
            d = struct.pack("=16I", *(((t << 24) ^ (i << 8) ^ k) & 0xFFFFFFFF
                                      for k in range(16)))
            try:
                r = c.call(CONF_ECHO, d, exec="worker" if i % 3 == 1 else None)
                if r.data != d or r.status:
                    failures.append(f"thread {t} iter {i}: {r!r}")
            except Exception as e:  # noqa: BLE001 -- counted, reported below
                failures.append(f"thread {t} iter {i}: {e!r}")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(MT_CLIENTS * MT_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    check(not failures, f"{len(failures)} of {MT_CLIENTS * MT_THREADS * MT_ITERS} commands "
                        f"failed: {failures[:3]}")


# ---- inline vs worker ----

PAR_N, PAR_MS = 3, 200
PAR_SERIAL_S = PAR_N * PAR_MS / 1000
PAR_OVERLAP_S = (PAR_N * PAR_MS - PAR_MS / 2) / 1000


def _sleeps_s(c: cse.Client, exec: str | None) -> float:
    """PAR_N CONF_SLEEPs of PAR_MS from as many threads at once: the seconds
    until all returned (one after another inline, overlapped on workers)."""
    errors: list[str] = []

    def one() -> None:
        r = c.call(CONF_SLEEP, U32.pack(PAR_MS), out_size=4, exec=exec)
        if r.status:
            errors.append(repr(r))

    threads = [threading.Thread(target=one) for _ in range(PAR_N)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"CONF_SLEEP: {errors}")
    return time.monotonic() - t0


def inline_vs_worker(world: World) -> None:
    """INLINE commands run on the connection's own turn, one at a time (no
    thread hop); WORKER ones overlap on other workers; none: the default."""
    for s, sid in enumerate((world.server_id, world.worker_server_id)):
        with connect(world, sid) as c:
            t = _sleeps_s(c, "inline")
            check(t >= PAR_SERIAL_S, f"INLINE commands overlapped: {t:.3f} s")
            # the better of two: a pool may start its threads on first use
            t = min(_sleeps_s(c, "worker"), _sleeps_s(c, "worker"))
            check(t < PAR_OVERLAP_S, f"WORKER commands did not overlap: {t:.3f} s")
            t = _sleeps_s(c, None) if s == 0 else min(_sleeps_s(c, None), _sleeps_s(c, None))
            check((t >= PAR_SERIAL_S) == (s == 0),
                  f"server default ({'worker' if s else 'inline'}) not honoured: {t:.3f} s")


# ---- large payload via backup ----

LARGE = 1 << 20


def large_payload_backup(world: World) -> None:
    big = data(3, LARGE)
    with connect(world) as c:
        r = c.call(CONF_ECHO, big, out_size=LARGE)
        check(r.backup == world.sync_backup, f"1 MiB: backup {r.backup}, want "
                                             f"{world.sync_backup}")
        check(r.data == big, "1 MiB echo differs")
        r = c.call(CONF_FILL, b"", out_size=LARGE, exec="worker")
        check(r.backup == world.sync_backup and r.data == pattern(CONF_FILL, LARGE),
              f"fill: backup {r.backup}, {len(r.data)} bytes")
        r = c.submit(CONF_ECHO, big, out_size=LARGE).result(timeout=60)
        check(r.backup == cse.BACKUP_MSG and r.data == big,
              f"async 1 MiB: backup {r.backup}, {len(r.data)} bytes")
        # Larger than the backup path carries: refused before anything is sent.
        try:
            c.call(CONF_ECHO, b"", out_size=cse.MAX_PAYLOAD + 1)
        except OSError as e:
            check(e.errno == errno.EMSGSIZE and type(e) is OSError,
                  f"too large: {e!r}, want OSError(EMSGSIZE)")
        else:
            raise ScenarioFailed("an output larger than MAX_PAYLOAD was accepted")


# ---- slot exhaustion ----

EXH_CMDS = 8


def slot_exhaustion(world: World) -> None:
    for policy in ("backup", "wait"):
        with connect(world, slots=2, slot_policy=policy) as c:
            futs = [c.submit(CONF_SLEEP, U32.pack(30), out_size=4) for _ in range(EXH_CMDS)]
            replies = [f.result(timeout=10) for f in futs]
        check(all(r.status == 0 and r.data == U32.pack(30) for r in replies),
              f"{policy}: bad completions {replies}")
        backups = sum(1 for r in replies if r.backup)
        if policy == "backup":
            check(backups >= EXH_CMDS - 2, f"only {backups} of {EXH_CMDS} commands "
                                           "overflowed to backup")
        else:
            check(backups == 0, f"{backups} commands took backup under 'wait'")


# ---- zero-length input and output ----

def zero_length(world: World) -> None:
    with connect(world) as c:
        for backup in (False, True):
            r = c.call(CONF_ECHO, b"", out_size=0, backup=backup)
            check(r.status == 0 and r.data == b"", f"backup={backup}: {r!r}")
            r = c.call(CONF_ECHO, None, backup=backup)
            check(r.status == 0 and r.data == b"", f"None input, backup={backup}: {r!r}")
        b = c.call_many(CONF_ECHO, b"", count=10, out_size=0)
        check(b.failed == 0 and set(b.lengths) == {0}, "empty batch commands")


# ---- unknown input code, bad arguments ----

def unknown_code(world: World) -> None:
    with connect(world) as c:
        for backup in (False, True):
            r = c.call(0xDEAD, b"", out_size=8, backup=backup)
            check(r.status == CONF_STATUS_UNKNOWN, f"status {r.status}, want "
                                                   f"{CONF_STATUS_UNKNOWN}")
        # Bad arguments are refused before anything is sent, as clear errors.
        for bad, exc in ((lambda: c.call(CONF_ECHO, b"x", exec="both"), ValueError),
                         (lambda: c.call(CONF_ECHO, "text"), TypeError),
                         (lambda: c.call(CONF_ECHO, memoryview(b"abcdef")[::2]), BufferError),
                         (lambda: c.call(CONF_ECHO, b"x", out_size=-1), ValueError)):
            try:
                bad()
            except exc:
                pass
            else:
                raise ScenarioFailed(f"a bad argument was not refused with {exc.__name__}")
        check(c.call(CONF_ECHO, b"ok").data == b"ok", "the client broke after bad arguments")


# ---- server death ----

DEATH_ASYNC = 6


def server_death(world: World) -> None:
    """Futures, an awaited acall and a blocked synchronous caller, all in
    flight when the server is SIGKILLed: each completes exactly once with
    ConnectionResetError; later commands fail fast."""
    import asyncio

    if world.spawn_server is None:
        raise Skip("this world cannot start a server that dies")
    sid = f"pyconf-{os.getpid()}-spare"
    proc = world.spawn_server(sid)
    try:
        c = connect(world, sid)
        sleep = U32.pack(20000)
        futs = [c.submit(CONF_SLEEP, sleep, out_size=4,
                         exec="worker" if i % 2 else None, backup=i == 2)
                for i in range(DEATH_ASYNC)]
        counts = [0] * DEATH_ASYNC
        for i, f in enumerate(futs):
            f.add_done_callback(lambda _f, i=i: counts.__setitem__(i, counts[i] + 1))
        sync_result: list[BaseException | cse.Reply] = []

        def sync_caller() -> None:
            t0 = time.monotonic()
            try:
                sync_result.append(c.call(CONF_SLEEP, sleep, out_size=4))
            except BaseException as e:  # noqa: BLE001 -- checked below
                sync_result.append(e)
            sync_result.append(time.monotonic() - t0)  # type: ignore[arg-type]

        async def awaited() -> BaseException | cse.Reply:
            try:
                return await c.acall(CONF_SLEEP, sleep, out_size=4)
            except BaseException as e:  # noqa: BLE001 -- checked below
                return e

        t = threading.Thread(target=sync_caller)
        t.start()

        async def kill_later() -> BaseException | cse.Reply:
            task = asyncio.ensure_future(awaited())
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
            return await asyncio.wait_for(task, 10)

        aresult = asyncio.run(kill_later())
        proc.wait(timeout=10)
        t.join(timeout=15)
        check(not t.is_alive(), "the synchronous caller never woke")
        check(isinstance(sync_result[0], ConnectionResetError),
              f"sync caller got {sync_result[0]!r}")
        check(sync_result[1] < 10, f"sync caller woke after {sync_result[1]:.1f} s")
        check(isinstance(aresult, ConnectionResetError), f"acall got {aresult!r}")
        for i, f in enumerate(futs):
            e = f.exception(timeout=5)
            check(isinstance(e, ConnectionResetError), f"future {i}: {e!r}")
        t0 = time.monotonic()
        try:
            c.call(CONF_ECHO, b"x")
        except ConnectionResetError:
            pass
        else:
            raise ScenarioFailed("a call after the server's death succeeded")
        check(time.monotonic() - t0 < 1, "failing after death took too long")
        try:
            c.submit(CONF_ECHO, b"x").result(timeout=5)
        except ConnectionResetError:
            pass
        time.sleep(0.05)
        check(counts == [1] * DEATH_ASYNC, f"completions per future: {counts}")
        c.close()
    finally:
        proc.kill()
        proc.wait()


# ---- client death ----

def _wait_live(c: cse.Client, live: int, min_closes: int) -> dict[str, int]:
    deadline = time.monotonic() + 10
    while True:
        st = stats(c)
        if st["opens"] - st["closes"] == live and st["closes"] >= min_closes:
            return st
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"connections did not settle: {st}")
        time.sleep(0.005)


def client_death(world: World) -> None:
    """A Python client killed (SIGKILL) mid-command: the server runs close
    once, after the command's exec finished, and never runs exec after it."""
    with connect(world) as c:
        before = _wait_live(c, 1, 0)
        doomed = subprocess.Popen([*world.doomed_client, "doomed-client", world.server_id,
                                   "400"], stdout=subprocess.PIPE, text=True)
        try:
            assert doomed.stdout is not None
            line = doomed.stdout.readline()  # it connected and issues its command
            check("connected" in line, f"doomed client: {line!r}")
            time.sleep(0.15)
        finally:
            doomed.kill()
            doomed.wait()
        after = _wait_live(c, 1, before["closes"] + 1)
        check(after["opens"] == before["opens"] + 1, f"opens {before} -> {after}")
        check(after["execs_started"] > before["execs_started"],
              "the doomed client's command never reached the server")
        for k in ("close_while_running", "double_close", "exec_after_close"):
            check(after[k] == before[k], f"{k}: {before[k]} -> {after[k]}")


SCENARIOS: dict[str, Callable[[World], None]] = {
    f.__name__: f for f in (echo, default_copies, async_many_inflight, multi_client_threads,
                            inline_vs_worker, large_payload_backup, slot_exhaustion,
                            zero_length, unknown_code, server_death, client_death)
}
