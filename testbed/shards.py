"""Splitting the cells among many runners: `cse run --shard I/N`, the job
chunks of `cse matrix --github/--gitlab`, and `cse run --failed`.

A split is deterministic (the same cells and durations give the same
shards on every runner: all of them must read the same durations, so they
come from a file named on purpose, never from the report dir a shard is
writing) and balanced by each cell's last duration: cells
go longest first to the shard with the least work so far (ties: the lower
shard; cells of equal duration by id).  A cell with no known duration
counts as the median of the known ones (DEFAULT_S when none is known).
Each shard keeps the matrix's order.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from testbed.matrix import Cell

DEFAULT_S = 60.0
#: last results that `cse run --failed` runs again
RERUN = ("FAIL", "ERROR", "FLAKY", "KNOWN")
_SHARD = re.compile(r"^(\d+)/(\d+)$")


class ShardError(ValueError):
    """A --shard that is not I/N with 1 <= I <= N."""


def parse_shard(text: str) -> tuple[int, int]:
    m = _SHARD.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ShardError(f"--shard {text!r}: use I/N, 1 <= I <= N (e.g. 2/5)")
    return int(m.group(1)), int(m.group(2))


def last_results(path: Path) -> dict[str, dict[str, object]]:
    """Cell id -> its entry in the matrix.json at @path (or in @path/matrix.json);
    {} when there is none or it cannot be read."""
    file = path / "matrix.json" if path.is_dir() else path
    try:
        cells = json.loads(file.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return cells if isinstance(cells, dict) else {}


def durations(path: Path) -> dict[str, float]:
    """Cell id -> seconds its last run took, from a matrix.json."""
    out = {}
    for cid, r in last_results(path).items():
        seconds = r.get("duration_s") if isinstance(r, dict) else None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
            out[cid] = float(seconds)
    return out


def split(cells: list[Cell], n: int, known: dict[str, float]) -> list[list[Cell]]:
    """@cells in @n balanced, deterministic shards (see the module doc);
    fewer cells than shards leaves the last shards empty."""
    if n < 1:
        raise ShardError(f"cannot split into {n} shards")
    measured = [known[c.id] for c in cells if c.id in known]
    default = statistics.median(measured) if measured else DEFAULT_S
    cost = {c.id: known.get(c.id, default) for c in cells}
    loads = [0.0] * n
    member: dict[str, int] = {}
    for c in sorted(cells, key=lambda c: (-cost[c.id], c.id)):
        i = min(range(n), key=lambda j: (loads[j], j))
        loads[i] += cost[c.id]
        member[c.id] = i
    return [[c for c in cells if member[c.id] == i] for i in range(n)]


def shard(cells: list[Cell], index: int, n: int, known: dict[str, float]) -> list[Cell]:
    """Shard @index (1-based) of @n."""
    return split(cells, n, known)[index - 1]


def chunks(cells: list[Cell], cap: int, known: dict[str, float]) -> list[list[Cell]]:
    """At most @cap groups of @cells for a CI system's job matrix: a cell
    each while they fit, balanced groups beyond (never an empty group)."""
    if len(cells) <= cap:
        return [[c] for c in cells]
    return [group for group in split(cells, cap, known) if group]


def failed_last_time(cells: list[Cell], path: Path) -> list[Cell]:
    """The @cells whose last result (matrix.json at @path) was one of RERUN."""
    last = last_results(path)
    return [c for c in cells
            if isinstance(last.get(c.id), dict) and last[c.id].get("status") in RERUN]
