"""cse.Server: a CSE server whose handlers are Python functions.

The runtime runs handlers on its own threads (each connection's reader, or
the worker pool).  The common handler -- handler(conn, code, data)
returning status or (status, output) -- is called straight from C with
the GIL taken there (_cse_py_server.c); handlers that take views of the
slot go through _exec_views here.  Whatever a handler raises is logged and
becomes that command's status (HANDLER_ERROR_STATUS), never the server's
end.  Closing waits for running handlers with the GIL released, so a
handler that needs the GIL to finish can always get it.

C holds the Python objects it calls by address (id()), so each Server
keeps them, and every open connection's Conn, alive until it is closed.
"""

from __future__ import annotations

import atexit
import errno
import itertools
import logging
import os
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
_unpack = ffi.unpack
_memmove = ffi.memmove
_from_handle = ffi.from_handle
_cast = ffi.cast


class Conn:
    """One client's connection, as the handlers see it.

    ``context`` is free for the application (on_open may set it); ``id``
    numbers the server's connections from 1; ``server`` is the Server.
    """

    __slots__ = ("server", "id", "context")

    def __init__(self, server: Server, conn_id: int) -> None:
        self.server = server
        self.id = conn_id
        self.context: Any = None

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


def _failed(conn: Conn, code: int, exc: BaseException | None, nbytes: int, room: int) -> int:
    """A command's handler failed: log why; the status it gets."""
    if exc is None:
        log.error("cse server %r: handler returned %d bytes for command %#x from connection "
                  "%d, which has room for %d; the command gets status %d",
                  conn.server.server_id, nbytes, code, conn.id, room, OUTPUT_TOO_LARGE_STATUS)
        return OUTPUT_TOO_LARGE_STATUS
    log.error("cse server %r: handler failed on command %#x from connection %d; the command "
              "gets status %d", conn.server.server_id, code, conn.id, HANDLER_ERROR_STATUS,
              exc_info=exc)
    return HANDLER_ERROR_STATUS


def _view_result(r: Any, view_mode: bool) -> tuple[int, Any]:
    """(status, length or bytes-like) from a views handler's return value."""
    if type(r) is int:
        return r, None
    if type(r) is tuple and len(r) == 2 and type(r[0]) is int:
        if type(r[1]) is int and not view_mode:
            raise TypeError("output must be bytes-like (an int length needs the out view)")
        return r
    raise TypeError(f"a handler returns status or (status, output), not {type(r).__name__}")


# ---- the runtime's open and close (cffi extern "Python": they take the GIL) ----

def _open_failed(exc: type, value: BaseException, tb: Any) -> int:
    log.error("cse server: accepting a connection failed", exc_info=(exc, value, tb))
    return 0


def _close_failed(exc: type, value: BaseException, tb: Any) -> None:
    log.error("cse server: closing a connection failed", exc_info=(exc, value, tb))


@ffi.def_extern(onerror=_open_failed)
def cpy_py_open(server_handle: Any) -> int:
    """A client connected: make its Conn, run on_open; id(conn), or 0 to refuse."""
    return _from_handle(server_handle)._open()


@ffi.def_extern(onerror=_close_failed)
def cpy_py_close(server_handle: Any, conn_id: int) -> None:
    """The connection ended (after its last command): run on_close once."""
    _from_handle(server_handle)._close_conn(conn_id)


@ffi.def_extern()
def cpy_py_pin() -> None:
    """Nothing: being a cffi callback, it leaves the calling thread a thread
    state that lasts until the thread ends (see _cse_py_server.c)."""


_live: set[Server] = set()


@atexit.register
def _close_all() -> None:
    """Interpreter exit: stop every server still open (its threads call into
    Python, which is about to go away)."""
    for s in list(_live):
        s.close()


def _after_fork() -> None:
    """In a child of fork(): the servers' threads stayed in the parent, and
    so does their name.  Mark them closed without touching the runtime."""
    for s in list(_live):
        s._ps = None
        s._closed.set()
    _live.clear()


os.register_at_fork(after_in_child=_after_fork)


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
    logged and gives the command status HANDLER_ERROR_STATUS (-EIO); too
    much output gives OUTPUT_TOO_LARGE_STATUS (-EMSGSIZE).

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
        arity = _arity(handler)
        self.server_id = server_id
        self._handler = handler
        self.on_open = on_open
        self.on_close = on_close
        self.zero_copy = zero_copy
        self._out_view = arity == 4
        fast = arity == 3 and not zero_copy
        self._conns: dict[int, Conn] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # What C calls, by address: kept here, alive as long as the server.
        self._failed = _failed
        self._slow = self._exec_views
        self._handle = ffi.new_handle(self)
        out = ffi.new("struct cpy_server **")
        err = lib.cpy_server_create(out, sid, workers, _EXEC[default_exec], spin,
                                    self._handle, id(handler) if fast else 0,
                                    0 if fast else id(self._slow), id(self._failed))
        if err:
            raise error(err)
        self._ps: Any = out[0]
        _live.add(self)

    @property
    def handler(self) -> Handler:
        """The handler (fixed: C calls it by address)."""
        return self._handler

    # ---- on the runtime's threads ----

    def _open(self) -> int:
        conn = Conn(self, next(self._ids))
        if self.on_open is not None:
            try:
                self.on_open(conn)
            except ConnectionRefusedError:
                return 0
            except BaseException:
                log.exception("cse server %r: on_open raised; connection refused",
                              self.server_id)
                return 0
        self._conns[id(conn)] = conn
        return id(conn)

    def _close_conn(self, conn_id: int) -> None:
        conn = self._conns[conn_id]
        try:
            if self.on_close is not None:
                self.on_close(conn)
        except BaseException:
            log.exception("cse server %r: on_close raised", self.server_id)
        finally:
            del self._conns[conn_id]

    def _exec_views(self, conn: Conn, code: int, in_addr: int, in_len: int, out_addr: int,
                    out_len: int) -> int:
        """One command for a handler that takes views of the slot: the
        packed status << 32 | output length."""
        lent: list[SlotView] = []
        inp, out = _cast("char *", in_addr), _cast("char *", out_addr)
        try:
            if self.zero_copy:
                iv = SlotView(inp, in_len)
                lent.append(iv)
                data = iv.view
            else:
                data = memoryview(_unpack(inp, in_len))
            if self._out_view:
                ov = SlotView(out, out_len)
                lent.append(ov)
                r = self._handler(conn, code, data, ov.view)
            else:
                r = self._handler(conn, code, data)
            del data
            status, payload = _view_result(r, self._out_view)
            del r
            if payload is None:
                n = 0
            elif type(payload) is int:
                if not 0 <= payload <= out_len:
                    raise ValueError(f"the handler reported {payload} bytes of output in a "
                                     f"{out_len}-byte output area")
                n = payload
            else:
                m = memoryview(payload)
                if not m.contiguous:
                    raise BufferError("a handler's output must be a contiguous buffer")
                n = m.nbytes
                if n > out_len:
                    del m, payload
                    for v in lent:
                        v.end()
                    return _failed(conn, code, None, n, out_len) << 32
                _memmove(out, m, n)
                del m
            del payload
            for v in lent:
                v.end()
            return (status << 32) | n
        except BaseException as e:
            for v in lent:
                try:
                    v.end()
                except ViewLeak:
                    pass
            return _failed(conn, code, e, 0, out_len) << 32

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
