"""CSE return values (0 or -errno) as Python exceptions.

-EINVAL is a bad argument, so ValueError.  Every other errno becomes
OSError(errno, name), which Python turns into its subclass for that errno:
-ECONNRESET (the server died) is ConnectionResetError, -ENOENT (no such
server) FileNotFoundError, -ECONNREFUSED ConnectionRefusedError; -EMSGSIZE
(larger than CSE_MAX_BACKUP) stays a plain OSError with that errno.
"""

from __future__ import annotations

import errno
import os

from cse._cse import ffi, lib

_NAMES: dict[int, str] = {}


def strerror(err: int) -> str:
    """CSE's name for a return value (cse_strerror), or the system's."""
    name = _NAMES.get(err)
    if name is None:
        name = ffi.string(lib.cse_strerror(err)).decode()
        if name == "unknown error":
            name = os.strerror(-err)
        _NAMES[err] = name
    return name


def error(err: int) -> Exception:
    """The exception for a negative errno value @err."""
    if err == -errno.EINVAL:
        return ValueError(f"[Errno {errno.EINVAL}] {strerror(err)}")
    return OSError(-err, strerror(err))


def check(err: int) -> None:
    """Raise error(err) unless @err is 0."""
    if err:
        raise error(err)
