#!/usr/bin/env python3
"""The conformance server (tests/conformance/conf_server.c) in Python, and
the same command line as cse-conf-helper, so every conformance client --
C, Python or the kernel's -- can run its scenarios against a Python server:

  conf_server.py server ID [--worker] [--ready FILE]
                                        serve until SIGTERM/SIGINT (FILE is
                                        created once it serves)
  conf_server.py doomed-client ID MS [call]
                                        issue CONF_SLEEP(MS) (submitted with
                                        CSE_SUBMIT_CALL if "call") and wait
                                        to be killed mid-command

Its handlers make the runtime's promises observable exactly as the C ones
do (callback order through CONF_ORDER's marks, open before exec, close once
and only after running execs finish), with the same codes, statuses and
struct layouts (native byte order).
"""

from __future__ import annotations

import ctypes
import signal
import struct
import sys
import threading
import time

import cse

CONF_ECHO, CONF_ORDER, CONF_SLEEP, CONF_STATS, CONF_THREAD, CONF_FILL = 1, 2, 3, 4, 5, 6
CONF_STATUS_OK = 0
CONF_STATUS_UNKNOWN = 1001
CONF_STATUS_BAD_ORDER = 1002
CONF_STATUS_NO_OPEN = 1003
CONF_STATUS_BAD_INPUT = 1004
CONF_MARK_IN, CONF_MARK_OUT, CONF_MARK_EXEC = 0x4E495F43, 0x54554F43, 0x43455843

STATS = struct.Struct("=8I")  # struct conf_stats
STAT_FIELDS = ("opens", "closes", "execs_started", "execs_finished", "close_while_running",
               "double_close", "exec_after_close", "resv")
U32 = struct.Struct("=I")
U64 = struct.Struct("=Q")


def pattern(seed: int, n: int) -> bytes:
    """conf_pattern(seed, i) for i in 0..n-1: (seed*131 + 7i + (i >> 8)) & 0xff.

    Built 256 bytes at a time: block k is block 0 with k added to each byte.
    """
    base = bytes((seed * 131 + 7 * j) & 0xFF for j in range(256))
    blocks = [base.translate(bytes((x + k) & 0xFF for x in range(256)))
              for k in range(256)]
    return b"".join(blocks[k & 0xFF] for k in range((n + 255) // 256))[:n]


class Ctx:
    """Per-connection state: commands running, closed."""

    __slots__ = ("running", "closed")

    def __init__(self) -> None:
        self.running = 0
        self.closed = False


class ConfServer:
    """Handlers and counters of one conformance server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats = dict.fromkeys(STAT_FIELDS, 0)
        self._fill = b""

    def _inc(self, field: str) -> None:
        with self.lock:
            self.stats[field] += 1

    def on_open(self, conn: cse.Conn) -> None:
        conn.context = Ctx()
        self._inc("opens")

    def on_close(self, conn: cse.Conn) -> None:
        ctx: Ctx = conn.context
        with self.lock:
            if ctx.closed:
                self.stats["double_close"] += 1
            ctx.closed = True
            if ctx.running:
                self.stats["close_while_running"] += 1
            self.stats["closes"] += 1

    def handler(self, conn: cse.Conn, code: int, data: memoryview,
                out: memoryview) -> tuple[int, int]:
        ctx = conn.context
        if not isinstance(ctx, Ctx):
            return CONF_STATUS_NO_OPEN, 0
        with self.lock:
            if ctx.closed:
                self.stats["exec_after_close"] += 1
            ctx.running += 1
            self.stats["execs_started"] += 1
        try:
            return self._run(code, data, out)
        finally:
            with self.lock:
                self.stats["execs_finished"] += 1
                ctx.running -= 1

    def _run(self, code: int, data: memoryview, out: memoryview) -> tuple[int, int]:
        n_in, n_out = len(data), len(out)
        if code == CONF_ECHO:
            n = min(n_in, n_out)
            out[:n] = data[:n]
            return CONF_STATUS_OK, n
        if code == CONF_ORDER:
            if n_in < 4 or n_out < 8:
                return CONF_STATUS_BAD_INPUT, 0
            if U32.unpack_from(data)[0] != CONF_MARK_IN or \
                    U32.unpack_from(out)[0] != CONF_MARK_OUT:
                return CONF_STATUS_BAD_ORDER, 0
            U32.pack_into(out, 0, CONF_MARK_EXEC)
            out[4:8] = data[:4]
            return CONF_STATUS_OK, 8
        if code == CONF_SLEEP:
            if n_in < 4 or n_out < 4:
                return CONF_STATUS_BAD_INPUT, 0
            time.sleep(U32.unpack_from(data)[0] / 1000)
            out[:4] = data[:4]
            return CONF_STATUS_OK, 4
        if code == CONF_STATS:
            if n_out < STATS.size:
                return CONF_STATUS_OK, 0
            with self.lock:
                STATS.pack_into(out, 0, *(self.stats[f] for f in STAT_FIELDS[:-1]), 0)
            return CONF_STATUS_OK, STATS.size
        if code == CONF_THREAD:
            if n_out < 8:
                return CONF_STATUS_BAD_INPUT, 0
            U64.pack_into(out, 0, threading.get_ident())
            return CONF_STATUS_OK, 8
        if code == CONF_FILL:
            if len(self._fill) < n_out:
                self._fill = pattern(CONF_FILL, max(n_out, 4096))
            out[:] = self._fill[:n_out]
            return CONF_STATUS_OK, n_out
        return CONF_STATUS_UNKNOWN, 0


def serve(server_id: str, worker: bool, ready: str | None = None) -> int:
    conf = ConfServer()
    # SIGTERM stops it like Ctrl-C: serve_forever closes the server and returns.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with cse.Server(server_id, conf.handler, workers=3, on_open=conf.on_open,
                    on_close=conf.on_close,
                    default_exec="worker" if worker else "inline") as srv:
        print(f"# serving {server_id}", flush=True)
        if ready:
            open(ready, "w").close()
        srv.serve_forever()
    return 0


def doomed_client(server_id: str, ms: int, submit: str = "fifo") -> int:
    c = cse.Client(server_id, connect_timeout=5, submit=submit)
    # Whoever kills us waits for this line (a KTAP comment).
    print("# doomed client connected", flush=True)
    c.call(CONF_SLEEP, U32.pack(ms))
    time.sleep(60)  # still here: the killer was late
    return 0


def die_with_parent() -> None:
    """Never outlive the test that started us (PR_SET_PDEATHSIG, SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    die_with_parent()
    if len(argv) >= 2 and argv[0] == "server":
        rest = argv[2:]
        ready = rest[rest.index("--ready") + 1] if "--ready" in rest[:-1] else None
        return serve(argv[1], "--worker" in rest, ready)
    if len(argv) in (3, 4) and argv[0] == "doomed-client" and argv[3:] in ([], ["call"]):
        return doomed_client(argv[1], int(argv[2]), *argv[3:])
    print("usage: conf_server.py server ID [--worker] [--ready FILE] | "
          "doomed-client ID MS [call]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
