"""Conformance servers as processes, of either kind: the C helper
(cse-conf-helper) or the Python one (conf_server.py); both take
`server ID [--worker]` and die with their parent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testbed.builds import FLAVOURS

from . import CONF_SERVER

C_HELPER = FLAVOURS["linux"].builddir / "tests" / "cse-conf-helper"
KINDS = ("c", "python")


def server_argv(kind: str, server_id: str, worker: bool = False) -> list[str]:
    """The command line of a @kind conformance server."""
    if kind == "c":
        base = [str(C_HELPER)]
    elif kind == "python":
        base = [sys.executable, str(CONF_SERVER)]
    else:
        raise ValueError(kind)
    return [*base, "server", server_id, *(["--worker"] if worker else [])]


def start(kind: str, server_id: str, worker: bool = False) -> subprocess.Popen:
    """Start a @kind conformance server (clients wait for it to register)."""
    if kind == "c" and not Path(C_HELPER).exists():
        raise FileNotFoundError(f"{C_HELPER} missing: run `make test` (or "
                                "`python -m testbed build linux`)")
    return subprocess.Popen(server_argv(kind, server_id, worker), stdout=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL after 10 s; the exit status."""
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def unique(tag: str) -> str:
    """A server id no other test (or xdist worker) uses."""
    return f"py-{tag}-{os.getpid()}-{os.urandom(3).hex()}"
