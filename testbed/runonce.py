"""Run an expensive step once per test run, whichever pytest-xdist worker asks
first, and hand its result to every other worker that asks.

A C suite binary or a VM boot produces the results of many pytest items;
grouping those items on one worker is a scheduling hint, not a guarantee, so
the sharing is done here: a file lock per step and a JSON result file, keyed
by the test run's id (the same in every worker of one run, new in the next).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed.builds import BUILD_ROOT

_RUN_ID_VAR = "PYTEST_XDIST_TESTRUNUID"  # set by xdist in every worker


def run_id() -> str:
    """This test run's id; outside xdist, one is made for this process."""
    return os.environ.setdefault(_RUN_ID_VAR, uuid.uuid4().hex)


def once(key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """compute() once per test run for @key (a file-name-safe string)."""
    d = BUILD_ROOT / "run-once" / run_id()
    d.mkdir(parents=True, exist_ok=True)
    result = d / f"{key}.json"
    with (d / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return json.loads(result.read_text())
        value = compute()
        tmp = result.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(result)
        return value


#: A run directory untouched this long belongs to no live test run.
STALE_AFTER_S = 6 * 3600


def clean_old(keep: str) -> None:
    """Remove the results of earlier runs (called by the controller).

    Only stale ones: another test run may be going on in this checkout at
    the same time (a developer's and a `cse run`'s, say), and its results
    must not vanish under it.
    """
    root = BUILD_ROOT / "run-once"
    if not root.is_dir():
        return
    now = time.time()
    for d in root.iterdir():
        try:
            stale = now - max(f.stat().st_mtime for f in [d, *d.iterdir()]) > STALE_AFTER_S
        except (OSError, ValueError):
            continue  # vanished meanwhile: another run cleaned it
        if d.name != keep and stale:
            shutil.rmtree(d, ignore_errors=True)


__all__ = ["run_id", "once", "clean_old", "Path"]
