"""cse.Server: a CSE server whose handlers are Python functions.

The runtime runs handlers on its own threads (each connection's reader, or
the worker pool); cffi's extern "Python" functions take the GIL for the
call and give it back after.  Whatever a handler raises is logged and
becomes that command's status (HANDLER_ERROR_STATUS), never the server's
end.  Closing waits for running handlers with the GIL released, so a
handler that needs the GIL to finish can always get it.
"""

from __future__ import annotations

import atexit
import errno
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from cse._buffers import SlotView, ViewLeak
from cse._client import server_id_bytes
from cse._cse import ffi, lib
from cse._errors import error

log = logging.getLogger("cse.server")

#: The status a command gets when its handler raised (-EIO).
HANDLER_ERROR_STATUS = -errno.EIO
#: ... when its handler returned more output than the command has room for.
OUTPUT_TOO_LARGE_STATUS = -errno.EMSGSIZE

_EXEC = {"inline": lib.CSE_EXEC_INLINE, "worker": lib.CSE_EXEC_WORKER}
_LEN = lib.CPY_PACK_LEN_MASK
_unpack = ffi.unpack
_memmove = ffi.memmove
_from_handle = ffi.from_handle


class Conn:
    """One client's connection, as the handlers see it.

    ``context`` is free for the application (on_open may set it); ``id``
    numbers the server's connections from 1; ``server`` is the Server.
    """

    __slots__ = ("server", "id", "context", "_handle")

    def __init__(self, server: Server, conn_id: int) -> None:
        self.server = server
        self.id = conn_id
        self.context: Any = None
        self._handle: Any = None

    def __repr__(self) -> str:
        return f"<cse.Conn {self.id} of {self.server.server_id!r}>"


Handler = Callable[..., Any]


def _arity(handler: Handler) -> int:
    """3 for handler(conn, code, data), 4 for handler(conn, code, data, out)."""
    import inspect  # only here: it is slow to import

    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 4
    if len(positional) not in (3, 4):
        raise TypeError("a handler takes (conn, code, data) or (conn, code, data, out), "
                        f"not {len(positional)} arguments")
    return len(positional)


def _handler_failed(conn: Conn, code: int, what: str) -> int:
    log.exception("cse server %r: handler failed on command %#x from connection %d (%s); "
                  "the command gets status %d", conn.server.server_id, code, conn.id, what,
                  HANDLER_ERROR_STATUS)
    return HANDLER_ERROR_STATUS << 32


def _finish(conn: Conn, code: int, r: Any, out: Any, out_len: int, view: bool) -> int:
    """The packed status << 32 | length for a handler's return value @r."""
    t = type(r)
    if t is int:
        status, payload = r, None
    elif t is tuple and len(r) == 2:
        status, payload = r
    else:
        raise TypeError("a handler returns status or (status, output), not "
                        f"{type(r).__name__}")
    if type(status) is not int or not -(1 << 31) <= status < 1 << 31:
        raise TypeError(f"a handler's status must be an int32, not {status!r}")
    if payload is None:
        return status << 32
    if type(payload) is int and view:
        if not 0 <= payload <= out_len:
            raise ValueError(f"the handler reported {payload} bytes of output in a "
                             f"{out_len}-byte output area")
        return status << 32 | payload
    if type(payload) is bytes:
        n = len(payload)
    else:
        m = memoryview(payload)
        if not m.contiguous:
            raise BufferError("a handler's output must be a contiguous buffer")
        n = m.nbytes
    if n > out_len:
        log.error("cse server %r: handler returned %d bytes for command %#x, which has "
                  "room for %d; the command gets status %d", conn.server.server_id, n, code,
                  out_len, OUTPUT_TOO_LARGE_STATUS)
        return OUTPUT_TOO_LARGE_STATUS << 32
    if n:
        _memmove(out, payload, n)
    return status << 32 | n


# ---- the runtime's handlers (cffi extern "Python": they take the GIL) ----

def _open_failed(exc: type, value: BaseException, tb: Any) -> None:
    log.error("cse server: accepting a connection failed", exc_info=(exc, value, tb))
    return None


def _exec_failed(exc: type, value: BaseException, tb: Any) -> int:
    log.error("cse server: running a command failed", exc_info=(exc, value, tb))
    return HANDLER_ERROR_STATUS << 32


def _close_failed(exc: type, value: BaseException, tb: Any) -> None:
    log.error("cse server: closing a connection failed", exc_info=(exc, value, tb))


@ffi.def_extern(onerror=_open_failed)
def cpy_py_open(server_handle: Any) -> Any:
    """A client connected: make its Conn, run on_open; NULL refuses it."""
    return _from_handle(server_handle)._open()


@ffi.def_extern(onerror=_exec_failed)
def cpy_py_exec(conn_handle: Any, code: int, inp: Any, in_len: int, out: Any,
                out_len: int) -> int:
    """Run one command: status << 32 | output length."""
    conn = _from_handle(conn_handle)
    return conn.server._exec(conn, code, inp, in_len, out, out_len)


@ffi.def_extern(onerror=_close_failed)
def cpy_py_close(conn_handle: Any) -> None:
    """The connection ended (after its last command): run on_close once."""
    conn = _from_handle(conn_handle)
    conn.server._close_conn(conn)


_live: set[Server] = set()


@atexit.register
def _close_all() -> None:
    """Interpreter exit: stop every server still open (its threads call into
    Python, which is about to go away)."""
    for s in list(_live):
        s.close()


class Server:
    """Serve commands under @server_id with a Python @handler.

    handler(conn, code, data) -> status or (status, output): data is a
    memoryview of the command's input; output is bytes-like (at most the
    command's output room) or None.  Or handler(conn, code, data, out):
    out is a writable memoryview of the command's output area; return
    status or (status, nbytes written).  Views into a slot live only for the
    call: by default data is a copy, so keeping it is safe; with
    zero_copy=True data is the slot itself, and a view kept past the call
    fails the command (ViewLeak, logged).  Whatever a handler raises is
    logged and gives the command status HANDLER_ERROR_STATUS (-EIO).

    workers: the worker pool's threads; default_exec: where commands that
    do not choose run, "inline" (the connection's reader thread) or
    "worker"; on_open(conn) runs when a client connects (raise to refuse
    it) and on_close(conn) once when it goes, after its last command;
    spin_ns as for Client.  Handlers run on the runtime's threads, several
    at once (one per connection, plus workers).

    A context manager; serve_forever() blocks until close() or Ctrl-C.
    Raises OSError(EADDRINUSE) if the name is taken.
    """

    def __init__(self, server_id: str, handler: Handler, *, workers: int = 2,
                 on_open: Callable[[Conn], Any] | None = None,
                 on_close: Callable[[Conn], Any] | None = None,
                 default_exec: str = "inline", spin_ns: int | None = None,
                 zero_copy: bool = False) -> None:
        sid = server_id_bytes(server_id)
        if default_exec not in _EXEC:
            raise ValueError(f"default_exec must be 'inline' or 'worker', not {default_exec!r}")
        if not isinstance(workers, int) or not 1 <= workers <= 1024:
            raise ValueError(f"workers must be 1..1024, not {workers!r}")
        spin = 0 if spin_ns is None else (-1 if spin_ns == 0 else spin_ns)
        self.server_id = server_id
        self.handler = handler
        self.on_open = on_open
        self.on_close = on_close
        self.zero_copy = zero_copy
        self._exec = self._pick_exec(_arity(handler), zero_copy)
        self._conns: dict[int, Conn] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._handle = ffi.new_handle(self)
        out = ffi.new("struct cpy_server **")
        err = lib.cpy_server_create(out, sid, workers, _EXEC[default_exec], spin,
                                    self._handle)
        if err:
            raise error(err)
        self._ps: Any = out[0]
        _live.add(self)

    # ---- handlers, on the runtime's threads ----

    def _open(self) -> Any:
        conn = Conn(self, next(self._ids))
        if self.on_open is not None:
            try:
                self.on_open(conn)
            except ConnectionRefusedError:
                return ffi.NULL
            except BaseException:
                log.exception("cse server %r: on_open raised; connection refused",
                              self.server_id)
                return ffi.NULL
        conn._handle = ffi.new_handle(conn)
        self._conns[conn.id] = conn
        return conn._handle

    def _close_conn(self, conn: Conn) -> None:
        try:
            if self.on_close is not None:
                self.on_close(conn)
        except BaseException:
            log.exception("cse server %r: on_close raised", self.server_id)
        finally:
            self._conns.pop(conn.id, None)

    def _pick_exec(self, arity: int, zero_copy: bool) -> Callable[..., int]:
        """The function that runs one command, specialised once per server:
        the common case (a copy of the input, output returned) does no more
        than it must."""
        handler = self.handler

        if arity == 3 and not zero_copy:
            def exec_copy(conn: Conn, code: int, inp: Any, in_len: int, out: Any,
                          out_len: int) -> int:
                try:
                    r = handler(conn, code, memoryview(_unpack(inp, in_len)))
                    return _finish(conn, code, r, out, out_len, False)
                except BaseException:
                    return _handler_failed(conn, code, "raised")
            return exec_copy

        def exec_views(conn: Conn, code: int, inp: Any, in_len: int, out: Any,
                       out_len: int) -> int:
            lent: list[SlotView] = []
            try:
                if zero_copy:
                    iv = SlotView(inp, in_len)
                    lent.append(iv)
                    data = iv.view
                else:
                    data = memoryview(_unpack(inp, in_len))
                if arity == 4:
                    ov = SlotView(out, out_len)
                    lent.append(ov)
                    r = handler(conn, code, data, ov.view)
                else:
                    r = handler(conn, code, data)
                del data
                packed = _finish(conn, code, r, out, out_len, arity == 4)
                del r
                for v in lent:
                    v.end()
                return packed
            except ViewLeak:
                return _handler_failed(conn, code, "kept a view of the slot")
            except BaseException:
                for v in lent:
                    try:
                        v.end()
                    except ViewLeak:
                        pass
                return _handler_failed(conn, code, "raised")
        return exec_views

    # ---- lifetime ----

    @property
    def connections(self) -> int:
        """Clients connected now."""
        return len(self._conns)

    @property
    def closed(self) -> bool:
        """True once close() has finished."""
        return self._closed.is_set()

    def serve_forever(self) -> None:
        """Block until the server is closed (by close() from any thread or
        handler).  Ctrl-C (KeyboardInterrupt) closes the server and returns."""
        try:
            while not self._closed.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.close()

    def close(self) -> None:
        """Stop serving: running handlers finish, on_close runs once per
        connection, clients see the server gone (ConnectionResetError).
        Returns when that is done, except from a handler (which the close
        waits for): then it only starts the close and returns."""
        with self._lock:
            ps, self._ps = self._ps, None
        if ps is None:
            return
        if isinstance(threading.current_thread(), threading._DummyThread):
            # Likely one of the runtime's threads (a handler): it cannot wait
            # for itself.
            threading.Thread(target=self._destroy, args=(ps,), name="cse-close").start()
            return
        self._destroy(ps)

    def _destroy(self, ps: Any) -> None:
        lib.cpy_server_destroy(ps)
        self._handle = None
        _live.discard(self)
        self._closed.set()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<cse.Server {self.server_id!r} {'closed' if self.closed else 'serving'}>"

