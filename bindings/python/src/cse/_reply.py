"""What a command returns: Reply (one command) and Batch (many)."""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from cse._errors import error

#: Reply.backup: the command took a slot, the backup messages, or one call.
SLOT, BACKUP_MSG, BACKUP_CALL = 0, 1, 2


class Reply:
    """The server's status and output of one command.

    ``data`` is a copy (bytes) the caller may keep.  Unpacks as
    ``status, data = client.call(...)``.  ``backup`` says how the command
    travelled: 0 in a slot, 1 as backup messages, 2 in one backup call.
    """

    __slots__ = ("status", "data", "backup")

    def __init__(self, status: int, data: bytes, backup: int = SLOT) -> None:
        self.status = status
        self.data = data
        self.backup = backup

    def __iter__(self) -> Iterator[int | bytes]:
        yield self.status
        yield self.data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Reply):
            return (self.status, self.data) == (other.status, other.data)
        if isinstance(other, tuple):
            return (self.status, self.data) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Reply(status={self.status}, data={self.data!r}, backup={self.backup})"


class Batch:
    """The results of Client.call_many, as arrays rather than one object per
    command.

    For command i: ``results[i]`` is 0 when the server ran it, else the
    runtime's -errno (-ECONNRESET: the server died; or why it could not be
    issued); ``statuses[i]`` the server's status; ``lengths[i]`` the bytes
    of output, which start at ``i * out_size`` in ``output``.
    """

    __slots__ = ("results", "statuses", "lengths", "output", "out_size")

    def __init__(self, n: int, out_size: int) -> None:
        self.results = array("i", bytes(4 * n))
        self.statuses = array("i", bytes(4 * n))
        self.lengths = array("I", bytes(4 * n))
        self.output = bytearray(n * out_size)
        self.out_size = out_size

    def __len__(self) -> int:
        return len(self.results)

    def data(self, i: int) -> memoryview:
        """Command @i's output: a view into ``output`` (the batch's own memory)."""
        start = i * self.out_size
        return memoryview(self.output)[start:start + self.lengths[i]]

    def __getitem__(self, i: int) -> Reply:
        """Command @i as a Reply (a copy); raises its error if it failed."""
        if self.results[i]:
            raise error(self.results[i])
        return Reply(self.statuses[i], bytes(self.data(i)))

    @property
    def failed(self) -> int:
        """How many commands the server did not run (nonzero results)."""
        return len(self.results) - self.results.tolist().count(0)

    def check(self) -> None:
        """Raise the first failed command's error, if any."""
        for r in self.results:
            if r:
                raise error(r)
