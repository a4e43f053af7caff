"""What a command returns: Reply (one command) and Batch (many)."""

from __future__ import annotations

from array import array
from operator import itemgetter

from cse._errors import error

#: Reply.backup: the command took a slot, the backup messages, or one call.
SLOT, BACKUP_MSG, BACKUP_CALL = 0, 1, 2


class Reply(tuple):
    """The server's status and output of one command: a tuple
    (status, data), so ``status, data = client.call(...)`` unpacks it.

    ``data`` is a copy (bytes) the caller may keep.  ``backup`` says how the
    command travelled: SLOT (0) in a slot, BACKUP_MSG (1) as backup
    messages, BACKUP_CALL (2) in one backup call.  (A tuple subclass so
    that C can make one cheaply, see _cse_py_call.c.)
    """

    __slots__ = ()
    backup: int = SLOT

    def __new__(cls, status: int, data: bytes, backup: int = SLOT) -> Reply:
        return tuple.__new__(REPLY_TYPES[backup] if cls is Reply else cls, (status, data))

    status = property(itemgetter(0), doc="The server's status (int32).")
    data = property(itemgetter(1), doc="The command's output (bytes).")

    def __repr__(self) -> str:
        return f"Reply(status={self[0]}, data={self[1]!r}, backup={self.backup})"


class _ReplyBackupMsg(Reply):
    """A Reply whose command travelled as backup messages."""

    __slots__ = ()
    backup = BACKUP_MSG


class _ReplyBackupCall(Reply):
    """A Reply whose command travelled in one backup call."""

    __slots__ = ()
    backup = BACKUP_CALL


#: Reply's class for each struct cse_exec.backup value
REPLY_TYPES: tuple[type[Reply], ...] = (Reply, _ReplyBackupMsg, _ReplyBackupCall)


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
