"""cse.Client: commands to a server, synchronous, as Futures, awaited, or in
batches.

Each operation is one crossing into C (cffi releases the GIL for it): a
synchronous call issues the command and waits inside C; its outcome comes
back packed in the return value (see _cse_py.h), so the only Python
objects made per call are the Reply and its bytes.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import threading
import time
import types
import weakref
from typing import TYPE_CHECKING, Any

from cse._buffers import MAX_PAYLOAD, alloc, input_buffer, output_buffer
from cse._cse import ffi, lib
from cse._dispatch import Dispatcher
from cse._errors import error
from cse._reply import REPLY_TYPES, Batch, Reply

if TYPE_CHECKING:
    import asyncio

_FAILED = lib.CPY_PACK_FAILED
_LEN = lib.CPY_PACK_LEN_MASK
_SHIFT = lib.CPY_PACK_BACKUP_SHIFT
_call = lib.cpy_call
_unpack = ffi.unpack

_EXEC = {None: 0, "inline": lib.CSE_EXEC_INLINE, "worker": lib.CSE_EXEC_WORKER}
_SUBMIT = {"fifo": lib.CSE_SUBMIT_FIFO, "ctl": lib.CSE_SUBMIT_CTL, "call": lib.CSE_SUBMIT_CALL}
_POLICY = {"backup": lib.CSE_SLOTS_BACKUP, "wait": lib.CSE_SLOTS_WAIT}
#: commands a batch keeps in flight at most (cpy_batch's window)
BATCH_WINDOW_MAX = 64


def _reply(packed: int, buf: Any) -> Reply:
    """The Reply (or the exception) for a packed outcome (see _cse_py.h)."""
    lo = packed & 0xFFFFFFFF
    if lo & _FAILED:
        raise error(packed >> 32)
    n = lo & _LEN
    return Reply(packed >> 32, _unpack(buf, n) if n else b"", lo >> _SHIFT)


def flags_for(exec: str | None, backup: bool) -> int:
    """struct cse_exec.flags for where the server runs it and whether to
    force the backup path."""
    try:
        f = _EXEC[exec]
    except KeyError:
        raise ValueError(f"exec must be 'inline', 'worker' or None, not {exec!r}") from None
    return f | lib.CSE_EXEC_FORCE_BACKUP if backup else f


def server_id_bytes(server_id: str) -> bytes:
    """@server_id as C wants it: UTF-8, no NUL, shorter than CSE_SERVER_ID_MAX."""
    if not isinstance(server_id, str):
        raise TypeError(f"server_id must be str, not {type(server_id).__name__}")
    b = server_id.encode()
    if not b or b"\0" in b or len(b) >= lib.CSE_SERVER_ID_MAX:
        raise ValueError(f"server_id must be 1..{lib.CSE_SERVER_ID_MAX - 1} bytes without "
                         f"NUL: {server_id!r}")
    return b


def _u32(name: str, v: int) -> int:
    if not isinstance(v, int) or not 0 <= v < 1 << 32:
        raise ValueError(f"{name} must be an int in 0..2**32-1, not {v!r}")
    return v


def _out_size(v: int) -> int:
    if not isinstance(v, int) or v < 0:
        raise ValueError(f"out_size must be a non-negative int, not {v!r}")
    return v


def _install_call_fast() -> Any:
    """Client.call's common case in C (_cse_py_call.c), which gives it to us
    through a dict: cffi returns no Python objects from C."""
    box: dict[str, Any] = {}
    err = lib.cpy_call_install(id(box), id(REPLY_TYPES), id(error))
    if err:
        raise error(err)
    return box["call_fast"]


_call_fast = _install_call_fast()

#: every open Client, for _after_fork
_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _after_fork() -> None:
    """In a child of fork(): the clients' runtime threads stayed in the
    parent and their connections are the parent's.  Close them here without
    touching the runtime (ValueError on use, nothing to join at exit)."""
    for c in list(_clients):
        c._forget()


os.register_at_fork(after_in_child=_after_fork)


def _shutdown(w: Any, box: list[Dispatcher]) -> None:
    """Disconnect @w, then let its dispatcher (if any) drain and stop: in
    that order, since the disconnect completes what is still in flight.
    Run once, by close(), when the Client is collected, or at exit (the
    runtime's threads must not outlive the interpreter)."""
    lib.cpy_client_close(w)
    for d in box:
        d.close()


class Client:
    """A connection to the CSE server registered as @server_id (a user
    server, or a kernel server through /dev/cse).

    slots: command slots in the shared chunk (commands in flight without
    the backup path); slot_size: bytes of input and of output per slot (an
    int for both, or (input, output)); larger commands take the backup path.
    spin_ns: how long a waiter spins before it sleeps (None: the runtime's
    default, 50 us; 0: never spin).  submit: "fifo" (the CS FIFO), "ctl"
    (the control channel, an ioctl to a kernel server) or "call" (a
    synchronous command to a kernel server in one ioctl that returns with
    its result; other commands, and all to a user server, take the CS
    FIFO).  slot_policy: when
    every slot is busy, "backup" sends the command on the backup path,
    "wait" waits for a slot.  connect_timeout: seconds to keep retrying
    while no such server exists yet.

    Raises FileNotFoundError (no such server), ConnectionRefusedError (its
    open handler refused), ValueError (bad options).  A context manager;
    close() disconnects.  Safe to use from several threads.
    """

    def __init__(self, server_id: str, *, slots: int = 64,
                 slot_size: int | tuple[int, int] = 4096, spin_ns: int | None = None,
                 submit: str = "fifo", slot_policy: str = "backup",
                 connect_timeout: float = 0.0) -> None:
        sid = server_id_bytes(server_id)
        sin, sout = slot_size if isinstance(slot_size, tuple) else (slot_size, slot_size)
        if submit not in _SUBMIT:
            raise ValueError(f"submit must be 'fifo', 'ctl' or 'call', not {submit!r}")
        if slot_policy not in _POLICY:
            raise ValueError(f"slot_policy must be 'backup' or 'wait', not {slot_policy!r}")
        spin = 0 if spin_ns is None else (-1 if spin_ns == 0 else spin_ns)
        for name, v in (("slots", slots), ("slot input size", sin), ("slot output size", sout)):
            if not isinstance(v, int) or v <= 0 or v >= 1 << 31:
                raise ValueError(f"{name} must be a positive int, not {v!r}")
        if not isinstance(spin, int) or not -(1 << 31) <= spin < 1 << 31:
            raise ValueError(f"spin_ns must be an int (ns) or None, not {spin_ns!r}")
        out = ffi.new("struct cpy_client **")
        deadline = time.monotonic() + connect_timeout
        while True:
            err = lib.cpy_client_open(out, sid, slots, sin, sout, _POLICY[slot_policy],
                                      spin, _SUBMIT[submit])
            if err != -errno.ENOENT or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if err:
            raise error(err)
        #: freed (cpy_client_free) only when no Python object can reach it
        self._w: Any = ffi.gc(out[0], lib.cpy_client_free)
        self._box: list[Dispatcher] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._w, self._box)
        self.server_id = server_id
        self.slots = slots
        self.slot_input_size = sin
        self.slot_output_size = sout
        self._scratch: list[tuple[Any, Any]] = []
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None
        # The common case of call() goes straight to C (see call()).
        state = (int(ffi.cast("uintptr_t", self._w)), self._w, sout, self._call_py)
        self.call = types.MethodType(_call_fast, state)  # type: ignore[method-assign]
        _clients.add(self)

    # ---- synchronous ----

    def call(self, code: int, data: Any = b"", *, out_size: int | None = None,
             exec: str | None = None, backup: bool = False) -> Reply:
        """Run one command and wait for it (in C, the GIL released).

        code: the command's input code (u32); data: its input, bytes-like;
        out_size: room for its output (default: the slot's output size);
        exec: "inline" or "worker" to choose where the server runs it;
        backup: force the backup path.  Returns Reply(status, data).
        ConnectionResetError if the server died; OSError(EMSGSIZE) if input
        or output exceeds MAX_PAYLOAD; ValueError if the client is closed.

        (Each Client binds call(code, bytes) to a C function, which hands
        every other form to _call_py: see _cse_py_call.c.)
        """
        return self._call_py(code, data, out_size=out_size, exec=exec, backup=backup)

    def _call_py(self, code: int, data: Any = b"", *, out_size: int | None = None,
                 exec: str | None = None, backup: bool = False) -> Reply:
        """call() in Python: every form of it."""
        w = self._w
        if w is None:
            raise ValueError("the client is closed")
        if type(data) is bytes:
            p, n = data, len(data)
        else:
            p, n = input_buffer(data)
        flags = 0 if exec is None and not backup else flags_for(exec, backup)
        if out_size is None:
            scratch = self._scratch
            s = scratch.pop() if scratch else self._new_scratch()
            r = _call(w, code, flags, p, n, s[0], self.slot_output_size, s[1])
            try:
                if r >= 0:
                    return Reply(0, _unpack(s[0], r) if r else b"")
                return _reply(s[1][0], s[0])
            finally:
                scratch.append(s)
        cap = _out_size(out_size)
        if cap > MAX_PAYLOAD:
            raise error(-errno.EMSGSIZE)
        buf, info = alloc("char[]", cap or 1), ffi.new("int64_t *")
        r = _call(w, code, flags, p, n, buf, cap, info)
        if r >= 0:
            return Reply(0, _unpack(buf, r) if r else b"")
        return _reply(info[0], buf)

    def _new_scratch(self) -> tuple[Any, Any]:
        """An output buffer of the slot's output size and an outcome word,
        for one synchronous call at a time (reused: kept in _scratch)."""
        return alloc("char[]", self.slot_output_size), ffi.new("int64_t *")

    def call_into(self, code: int, data: Any, out: Any, *, exec: str | None = None,
                  backup: bool = False) -> tuple[int, int]:
        """Like call(), but the output lands in @out (a writable buffer such
        as a bytearray), with no copy of its own; returns (status, nbytes)."""
        w = self._w
        if w is None:
            raise ValueError("the client is closed")
        p, n = input_buffer(data)
        o, cap = output_buffer(out)
        info = ffi.new("int64_t *")
        r = _call(w, code, flags_for(exec, backup), p, n, o, cap, info)
        if r >= 0:
            return 0, r
        packed = info[0]
        lo = packed & 0xFFFFFFFF
        if lo & _FAILED:
            raise error(packed >> 32)
        return packed >> 32, lo & _LEN

    def call_many(self, code: int | Any, data: Any = b"", *, count: int | None = None,
                  out_size: int, window: int | None = None, exec: str | None = None,
                  backup: bool = False) -> Batch:
        """Run many commands in one crossing into C, up to @window in flight.

        Command i's input is the i-th of @count equal pieces of @data (one
        contiguous buffer; empty for none); its code is @code, or codes[i]
        when @code is a buffer of u32 (array('I')).  Each output gets
        @out_size bytes.  Results come back as arrays (Batch), not one object
        per command.  window: default the client's slots (at most 64).
        """
        w = self._w
        if w is None:
            raise ValueError("the client is closed")
        codes = ffi.NULL
        if isinstance(code, int):
            _u32("code", code)
        else:
            cm = memoryview(code)
            if cm.format not in ("I", "L") or cm.itemsize != 4 or not cm.contiguous:
                raise TypeError("codes must be a contiguous buffer of u32 (array('I'))")
            codes = ffi.from_buffer("uint32_t[]", cm)
            if count is None:
                count = len(cm)
            elif count != len(cm):
                raise ValueError(f"{len(cm)} codes for {count} commands")
            code = 0
        p, n = input_buffer(data)
        if count is None:
            raise ValueError("count is required when code is a single int")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative int, not {count!r}")
        if count == 0:
            return Batch(0, _out_size(out_size))
        if n % count:
            raise ValueError(f"{n} bytes of input do not split into {count} equal commands")
        stride = n // count
        osize = _out_size(out_size)
        win = min(self.slots, BATCH_WINDOW_MAX) if window is None else window
        if not isinstance(win, int) or not 1 <= win <= BATCH_WINDOW_MAX:
            raise ValueError(f"window must be 1..{BATCH_WINDOW_MAX}, not {window!r}")
        b = Batch(count, osize)
        out = ffi.from_buffer(b.output, require_writable=True)
        err = lib.cpy_batch(w, code, codes, flags_for(exec, backup), p, stride, ffi.NULL,
                            out, osize, count, win,
                            ffi.from_buffer("int32_t[]", b.results, require_writable=True),
                            ffi.from_buffer("int32_t[]", b.statuses, require_writable=True),
                            ffi.from_buffer("uint32_t[]", b.lengths, require_writable=True))
        if err:
            raise error(err)
        return b

    # ---- asynchronous ----

    def _submit(self, code: int, data: Any, out_size: int | None, exec: str | None,
                backup: bool, target: Any) -> None:
        w = self._w
        if w is None:
            raise ValueError("the client is closed")
        p, n = input_buffer(data)
        cap = self.slot_output_size if out_size is None else _out_size(out_size)
        d = self._dispatcher
        if d is None:
            with self._lock:
                if self._w is None:
                    raise ValueError("the client is closed")
                if self._dispatcher is None:
                    self._dispatcher = Dispatcher()
                    self._box.append(self._dispatcher)
                d = self._dispatcher
        d.submit(w, code, flags_for(exec, backup), p, n, cap, target)

    def submit(self, code: int, data: Any = b"", *, out_size: int | None = None,
               exec: str | None = None, backup: bool = False
               ) -> concurrent.futures.Future[Reply]:
        """Issue one command and return at once; the Future completes exactly
        once with its Reply, or with ConnectionResetError if the server dies
        or the client closes first.  Its callbacks run on the client's
        dispatcher thread.  A command in flight cannot be cancelled."""
        fut: concurrent.futures.Future[Reply] = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        self._submit(code, data, out_size, exec, backup, fut)
        return fut

    async def acall(self, code: int, data: Any = b"", *, out_size: int | None = None,
                    exec: str | None = None, backup: bool = False) -> Reply:
        """call() for asyncio: await the Reply without blocking the loop.
        Cancelling the awaiting task does not withdraw the command."""
        import asyncio  # not at import time: it costs more than the rest of cse

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Reply] = loop.create_future()
        self._submit(code, data, out_size, exec, backup, (loop, fut))
        return await fut

    # ---- lifetime ----

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return self._w is None

    def close(self) -> None:
        """Disconnect.  Waits for calls other threads are in; commands still
        in flight complete with ConnectionResetError before it returns."""
        with self._lock:
            self._w = None
            self._dispatcher = None
        self._finalizer()  # once: later calls do nothing

    def _forget(self) -> None:
        lib.cpy_client_forget(self._w if self._w is not None else ffi.NULL)
        self._w = None
        self._dispatcher = None
        self._finalizer.detach()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._w is None else f"{self.slots} slots"
        return f"<cse.Client {self.server_id!r} {state}>"
