"""A cell's progress, as a tiny JSON file the runner rewrites and `cse run` reads.

The runner may run in a pytest-xdist worker, so the state crosses processes
through report/cells/<cell>/progress.json: {"token", "state", "since", "done"}.
The token identifies one `cse run`: a file left by an earlier run (or by an
earlier cell run that crashed) is not mistaken for this run's progress.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

FILE = "progress.json"


@dataclass
class State:
    state: str          # waiting, preparing, building, running uu, ..., or the final status
    since: float        # time.time() when the cell started
    done: bool = False  # the result.json of this run is written


class Progress:
    """The writer side, for one cell of one run."""

    def __init__(self, path: Path, token: str) -> None:
        self.path = path
        self.token = token
        self.since = time.time()

    def set(self, state: str, *, done: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"token": self.token, "state": state, "since": self.since,
                                   "done": done}))
        tmp.replace(self.path)


def read(path: Path, token: str) -> State | None:
    """The state written by run @token, or None (not started, or another run's)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("token") != token:
        return None
    return State(str(data.get("state", "?")), float(data.get("since", 0)),
                 bool(data.get("done", False)))
