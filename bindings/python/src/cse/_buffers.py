"""Python buffers on their way into C, and views of C memory on their way out.

Input is passed to C without a copy where Python allows it (bytes as they
are, other contiguous buffers through ffi.from_buffer): the runtime copies
it into the slot before the call returns.  A view into a slot is only ever
lent for the duration of a call; SlotView checks that nothing kept it.
"""

from __future__ import annotations

import sys
from typing import Any

from cse._cse import ffi, lib

#: Bytes a command may carry each way (CSE_MAX_BACKUP).
MAX_PAYLOAD: int = lib.CSE_MAX_BACKUP

#: ffi.new without zeroing: output buffers are written before they are read.
alloc = ffi.new_allocator(should_clear_after_alloc=False)


def input_buffer(data: Any) -> tuple[Any, int]:
    """(what C can take, length) for a bytes-like @data; None is empty.

    TypeError for what is not bytes-like (str included), BufferError for a
    non-contiguous buffer (a strided memoryview or numpy slice): C needs the
    bytes in one piece.
    """
    if type(data) is bytes:
        return data, len(data)
    if data is None:
        return ffi.NULL, 0
    if isinstance(data, str):
        raise TypeError("command data must be bytes-like, not str (encode it first)")
    try:
        m = memoryview(data)
    except TypeError:
        raise TypeError(f"command data must be bytes-like, not {type(data).__name__}") \
            from None
    if not m.contiguous:
        raise BufferError("command data must be a contiguous buffer; this one is strided "
                          "(copy it first, e.g. bytes(view))")
    n = m.nbytes
    return (ffi.from_buffer(m) if n else ffi.NULL), n


def output_buffer(out: Any) -> tuple[Any, int]:
    """(C pointer, capacity) of a writable contiguous buffer @out."""
    if isinstance(out, (bytes, str)):
        raise TypeError(f"output buffer must be writable, not {type(out).__name__}")
    m = memoryview(out)
    if m.readonly:
        raise TypeError("output buffer must be writable")
    if not m.contiguous:
        raise BufferError("output buffer must be contiguous")
    return ffi.from_buffer(m, require_writable=True), m.nbytes


class ViewLeak(BufferError):
    """A view of a slot was kept past the call that lent it.

    The slot is reused for the next command and unmapped when its client
    goes, so such a view would read another command's data or crash the
    process: copy what you keep (bytes(view)).
    """


class SlotView:
    """A memoryview of C memory (a slot's input or output area) that ends
    with the call which lent it: end() releases it and raises ViewLeak if a
    view derived from it (a slice, another memoryview) is still alive."""

    __slots__ = ("_buf", "view")

    def __init__(self, ptr: Any, size: int) -> None:
        self._buf = ffi.buffer(ptr, size)
        self.view = memoryview(self._buf)

    def end(self) -> None:
        """Release the view; ViewLeak if anything derived from it survives."""
        if self._buf is None:
            return
        self.view.release()
        # One reference is ours, one getrefcount's argument: any other is a
        # managed buffer that a surviving view still holds.
        leaked = sys.getrefcount(self._buf) > 2
        self._buf = None
        if leaked:
            raise ViewLeak("a view of a CSE slot outlived the call that lent it; "
                           "copy what you keep, e.g. bytes(data)")
