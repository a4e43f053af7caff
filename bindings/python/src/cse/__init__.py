"""CSE from Python: clients and servers of commands over shared-memory slots.

A client issues commands (a u32 code and bytes) to a server named by a
string; the runtime (libcse, through this cffi extension) carries them
through the connection's shared slots and FIFOs, or its backup path, to a
server in another process -- Python or C -- or in the kernel (/dev/cse).

    with cse.Server("demo.upper", lambda conn, code, data: (0, bytes(data).upper())):
        with cse.Client("demo.upper") as c:
            assert c.call(1, b"hi").data == b"HI"

Client: call() (synchronous, waits in C without the GIL), submit()
(concurrent.futures.Future), acall() (asyncio), call_many() (a batch in
one crossing, results as arrays).  Server: handlers on the runtime's
threads.  Errors: -EINVAL is ValueError, any other -errno
OSError(errno, name) (ConnectionResetError when the peer died, ...).
"""

from cse._buffers import MAX_PAYLOAD, ViewLeak
from cse._client import BATCH_WINDOW_MAX, Client
from cse._errors import error, strerror
from cse._reply import BACKUP_CALL, BACKUP_MSG, SLOT, Batch, Reply
from cse._server import HANDLER_ERROR_STATUS, OUTPUT_TOO_LARGE_STATUS, Conn, Server

__version__ = "0.1.0"

__all__ = [
    "BACKUP_CALL", "BACKUP_MSG", "BATCH_WINDOW_MAX", "Batch", "Client", "Conn",
    "HANDLER_ERROR_STATUS", "MAX_PAYLOAD", "OUTPUT_TOO_LARGE_STATUS", "Reply", "SLOT",
    "Server", "ViewLeak", "error", "strerror",
]
