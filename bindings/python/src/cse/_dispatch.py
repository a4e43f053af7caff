"""Asynchronous commands: completions from C to Futures and asyncio.

The runtime completes an asynchronous command on one of its own threads.
Taking the GIL there for every command would make that thread queue behind
whatever Python runs (for up to the switch interval, 5 ms) and stall the
FIFO behind it; so C only queues the completion (cpy_submit's record) and
one Python thread per client, the dispatcher, takes them many at a time
(cpy_reap: one crossing, the GIL released while it waits) and settles
their futures.  asyncio futures are settled on their loop's thread, with
one loop.call_soon_threadsafe per loop and reap.
"""

from __future__ import annotations

import concurrent.futures
import errno
import itertools
import logging
import threading
from typing import TYPE_CHECKING, Any, Union

from cse._buffers import alloc
from cse._cse import ffi, lib
from cse._errors import check, error
from cse._reply import Reply

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("cse")

#: completions taken per reap
REAP_MAX = 256
_FAILED = lib.CPY_PACK_FAILED
_LEN = lib.CPY_PACK_LEN_MASK
_SHIFT = lib.CPY_PACK_BACKUP_SHIFT

Target = Union[concurrent.futures.Future, "tuple[asyncio.AbstractEventLoop, asyncio.Future]"]


def _settle(items: list[tuple[asyncio.Future, Any, bool]]) -> None:
    """On the loop's thread: set each future not cancelled meanwhile."""
    for fut, value, failed in items:
        if fut.done():
            continue
        if failed:
            fut.set_exception(value)
        else:
            fut.set_result(value)


class Dispatcher:
    """The completion queue of one client and the thread that drains it."""

    def __init__(self) -> None:
        q = ffi.new("struct cpy_queue **")
        check(lib.cpy_queue_new(q))
        self._q = q[0]
        self._pending: dict[int, Target] = {}
        self._tokens = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="cse-dispatch", daemon=True)
        self._thread.start()

    def submit(self, w: Any, code: int, flags: int, p: Any, n: int, out_size: int,
               target: Target) -> None:
        """Issue one command whose completion settles @target."""
        tok = next(self._tokens)
        # Registered first: the completion may be reaped before cpy_submit returns.
        self._pending[tok] = target
        err = lib.cpy_submit(w, self._q, tok, code, flags, p, n, out_size)
        if err:
            del self._pending[tok]
            raise error(err)

    def close(self) -> None:
        """After the client is closed (every command completed): drain and stop."""
        lib.cpy_queue_close(self._q)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        tokens = ffi.new("uint64_t[]", REAP_MAX)
        packed = ffi.new("int64_t[]", REAP_MAX)
        tokv = memoryview(ffi.buffer(tokens)).cast("B").cast("Q")
        packv = memoryview(ffi.buffer(packed)).cast("B").cast("q")
        cap = 1 << 16
        out = alloc("char[]", cap)
        while True:
            n = lib.cpy_reap(self._q, tokens, packed, REAP_MAX, out, cap, -1)
            if n > 0:
                try:
                    self._deliver(tokv[:n].tolist(), packv[:n].tolist(), out)
                except Exception:  # a bug here must not strand later completions
                    log.exception("cse: delivering completions failed")
            elif n == -errno.ENOBUFS:
                cap = max(packed[0], 2 * cap)
                out = alloc("char[]", cap)
            elif n == -errno.EPIPE:
                break
        lib.cpy_queue_free(self._q)
        self._q = None

    def _deliver(self, toks: list[int], packs: list[int], out: Any) -> None:
        total = 0
        for p in packs:
            if not p & _FAILED:
                total += p & _LEN
        blob = ffi.buffer(out, total)[:] if total else b""
        off = 0
        loops: dict[Any, list] = {}
        pending = self._pending
        for tok, p in zip(toks, packs, strict=True):
            target = pending.pop(tok, None)
            lo = p & 0xFFFFFFFF
            if lo & _FAILED:
                value: Any = error(p >> 32)
                failed = True
            else:
                n = lo & _LEN
                value = Reply(p >> 32, blob[off:off + n], lo >> _SHIFT)
                off += n
                failed = False
            if target is None:
                log.error("cse: a completion for unknown command %d", tok)
            elif type(target) is tuple:
                loops.setdefault(target[0], []).append((target[1], value, failed))
            elif failed:
                target.set_exception(value)
            else:
                target.set_result(value)
        for loop, items in loops.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # the loop is closed: nobody awaits these
                pass
