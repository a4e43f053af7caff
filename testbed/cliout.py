"""How the `cse` command writes: to a terminal, a pipe or a CI log.

- Tables take the terminal's width.  Piped (`cse list | less`), rich's own
  rule holds: COLUMNS if set, else the size of a terminal on stdin or
  stderr.  With no terminal anywhere and no COLUMNS (a CI log) they are
  LOG_WIDTH wide, so a cell's row stays on one line.
- A reader that went away (`cse list | head`) ends the command quietly,
  with the status of a tool killed by SIGPIPE, not with a traceback.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Callable

from rich.console import Console

LOG_WIDTH = 200
#: what a shell shows for a process killed by SIGPIPE
EXIT_PIPE = 128 + signal.SIGPIPE


def _tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 itself; let run_quietly() end it like the rest
        raise BrokenPipeError


def console() -> Console:
    """A console for tables, as wide as the module docstring says."""
    c = _Console()
    if not c.is_terminal and "COLUMNS" not in os.environ and not any(map(_tty, (0, 1, 2))):
        c.width = LOG_WIDTH
    return c


def _stdout_closed() -> bool:
    """Has the reader of our stdout gone (a pipe reports an error to poll)?"""
    try:
        p = select.poll()
        p.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in p.poll(0))
    except (OSError, ValueError):
        return False


def run_quietly(main: Callable[[], int]) -> int:
    """main(), its exit status; EXIT_PIPE, silently, when stdout's reader has
    gone.  stdout is flushed here, so a closed pipe shows up now rather than
    as 'Exception ignored' at exit."""
    try:
        try:
            rc = main()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # another pipe or socket: not ours to hide
        # Python flushes stdout again at exit: give it somewhere to go.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    return rc
