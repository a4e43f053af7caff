"""Run several cells: in this process (-j 1) or as pytest-xdist items (-j N).

With -j N the cells run in `python -m pytest -n N --dist loadgroup
testbed/celltests.py`, one item and one xdist group per cell; this process
waits and then reads each cell's result.json.  A cell whose worker died
before saving its result (progress.json of this run not marked done) gets an
ERROR result blamed on the harness, so no selected cell is ever missing.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import pickle
import subprocess
import sys
from pathlib import Path

from testbed import progress
from testbed.builds import ROOT
from testbed.matrix import Cell
from testbed.results import CellResult, SuiteResult
from testbed.runner import RESULT, RunOptions, cell_dir, run_cell

PYTEST_LOG = "cse-run-pytest.log"
#: the pytest module of one item per cell, and the variable it reads its cells from
CELLTESTS = Path(__file__).resolve().parent / "celltests.py"
CONFIG_ENV = "CSE_RUN_CONFIG"


class ParallelError(RuntimeError):
    """-j N cannot be honoured here (pytest-xdist missing)."""


def encode(cells: list[Cell], opts: RunOptions) -> str:
    """The $CSE_RUN_CONFIG value for @cells run with @opts: pickled as they
    are (a provisioner's settings included), since the reader is a child of
    this very checkout: there is no format to keep stable."""
    return base64.b64encode(pickle.dumps((cells, opts))).decode()


def decode(text: str) -> tuple[list[Cell], RunOptions]:
    cells, opts = pickle.loads(base64.b64decode(text))  # noqa: S301 - our own child's input
    return cells, opts


def pytest_argv(workers: int) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
            "-q", "-rfEs", "-n", str(workers), "--dist", "loadgroup", "--rootdir", str(ROOT),
            str(CELLTESTS)]


def _child_env(cells: list[Cell], opts: RunOptions) -> dict[str, str]:
    # An outer pytest's (or xdist worker's) variables must not leak into ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env[CONFIG_ENV] = encode(cells, opts)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_cells(cells: list[Cell], opts: RunOptions, jobs: int) -> dict[str, CellResult]:
    """Run @cells with up to @jobs at once; cell id -> its result, in order."""
    if jobs < 1:
        raise ValueError(f"-j must be at least 1, not {jobs}")
    if jobs == 1 or len(cells) == 1:
        for cell in cells:
            run_cell(cell, opts)
        return collect(cells, opts)
    if importlib.util.find_spec("xdist") is None:
        raise ParallelError(f"cse run -j {jobs} needs pytest-xdist "
                            "(pip install -e '.[dev]'); or run with -j 1")
    opts.report_dir.mkdir(parents=True, exist_ok=True)
    log = opts.report_dir / PYTEST_LOG
    with log.open("w") as f:
        proc = subprocess.Popen(pytest_argv(min(jobs, len(cells))), cwd=ROOT,
                                env=_child_env(cells, opts), stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            rc = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    return collect(cells, opts, f"pytest exit {rc}; see {log}")


def collect(cells: list[Cell], opts: RunOptions, where: str = "") -> dict[str, CellResult]:
    """Each cell's result.json of this run; an ERROR (harness) for a missing one."""
    results = {}
    for cell in cells:
        d = cell_dir(opts.report_dir, cell.id)
        state = progress.read(d / progress.FILE, opts.token)
        if state is not None and state.done and (d / RESULT).is_file():
            results[cell.id] = CellResult.load(d / RESULT)
            continue
        why = (f"the runner died before saving this cell's result "
               f"(last state: {state.state if state else 'never started'}"
               f"{'; ' + where if where else ''})")
        result = CellResult(cell.id, "ERROR", "harness", why,
                            suites={s: SuiteResult(s, "ERROR", error=why) for s in cell.suites})
        result.save(d / RESULT)
        results[cell.id] = result
    return results
