"""What `cse run` shows: a live table of the cells while they run (read from
each cell's progress.json, as the runner may be in another process), then the
final matrix table.  On a terminal the table updates in place; in a CI log
(not a terminal) each change of state is one line instead.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich import box
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from testbed import progress
from testbed.matrix import SUITES, Cell
from testbed.results import CellResult, notes
from testbed.runner import RunOptions, cell_dir

#: each status's look on a terminal; excused failures are neither red nor green
STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold red", "KNOWN": "bold magenta",
         "FLAKY": "bold cyan", "SKIP": "yellow"}


def styled(status: str) -> str:
    return f"[{STYLE[status]}]{status}[/]" if status in STYLE else escape(status)


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s // 60:.0f} min {s % 60:02.0f} s"


class ProgressView:
    """Context manager showing the cells' states until it exits."""

    def __init__(self, cells: list[Cell], opts: RunOptions, console: Console) -> None:
        self.cells, self.opts, self.console = cells, opts, console
        self._live: Live | None = None
        self._stop = threading.Event()
        self._printer: threading.Thread | None = None

    def states(self) -> dict[str, progress.State | None]:
        return {c.id: progress.read(cell_dir(self.opts.report_dir, c.id) / progress.FILE,
                                    self.opts.token) for c in self.cells}

    def table(self) -> Table:
        t = Table(title="cse run", box=box.SIMPLE_HEAD)
        for name in ("cell", "state", "time"):
            t.add_column(name, no_wrap=True)
        now = time.time()
        for cid, st in self.states().items():
            if st is None:
                t.add_row(cid, "[dim]waiting[/]", "")
            else:
                t.add_row(cid, styled(st.state), "" if st.done else _seconds(now - st.since))
        return t

    def _print_changes(self) -> None:
        seen: dict[str, str] = {}
        while True:
            for cid, st in self.states().items():
                if st is not None and seen.get(cid) != st.state:
                    seen[cid] = st.state
                    self.console.print(f"{cid}: {styled(st.state)}", highlight=False)
            if self._stop.wait(1.0):
                if all(st is None or seen.get(cid) == st.state
                       for cid, st in self.states().items()):
                    return

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._live = Live(get_renderable=self.table, console=self.console,
                              refresh_per_second=2, transient=True)
            self._live.start()
        else:
            self._printer = threading.Thread(target=self._print_changes, daemon=True)
            self._printer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
        if self._printer is not None:
            self._stop.set()
            self._printer.join(timeout=5)


def final_table(cells: list[Cell], results: dict[str, CellResult]) -> Table:
    """One row per cell: status, culprit, each suite's status, duration, reason."""
    suites = [s for s in SUITES if any(s in c.suites for c in cells)]
    order = ["build", "uu", "kk", "uk", "ku"]
    suites.sort(key=lambda s: order.index(s) if s in order else len(order))
    t = Table(title="CSE test matrix", box=box.SIMPLE_HEAD)
    t.add_column("cell", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("culprit", no_wrap=True)
    for s in suites:
        t.add_column(s, no_wrap=True)
    t.add_column("time", no_wrap=True, justify="right")
    t.add_column("reason", min_width=30)
    for c in cells:
        r = results[c.id]
        per_suite = [styled(r.suites[s].status) if s in r.suites else "" for s in suites]
        note = ", ".join(notes(r.info))
        status = styled(r.status) + (f" [dim]({escape(note)})[/]" if note else "")
        t.add_row(c.id, status, r.culprit or "", *per_suite, _seconds(r.duration_s),
                  escape(r.reason))
    return t
