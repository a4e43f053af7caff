"""One pytest item per cell, for `cse run -j N` (not collected by `make test`).

`cse run` starts `python -m pytest -n N --dist loadgroup testbed/celltests.py`
with the cells and options as JSON in $CSE_RUN_CONFIG (testbed.parallel
encodes it).  Each item is in an xdist group of its own cell, runs that cell
through testbed.runner (which saves its result.json) and fails for a FAIL or
ERROR cell, so pytest's own summary agrees with the matrix.
"""

from __future__ import annotations

import os

import pytest

from testbed.matrix import Cell
from testbed.parallel import CONFIG_ENV, decode
from testbed.runner import RunOptions, run_cell


def _config() -> tuple[list[Cell], RunOptions]:
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"testbed/celltests.py is run by `cse run -j N`, which sets "
                           f"${CONFIG_ENV}; run `cse run` instead")
    return decode(text)


_CELLS, _OPTS = _config()


@pytest.mark.parametrize("cell", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.id))
                                  for c in _CELLS])
def test_cell(cell: Cell) -> None:
    result = run_cell(cell, _OPTS)
    if result.status in ("FAIL", "ERROR"):
        pytest.fail(f"{result.status} (culprit {result.culprit}): {result.reason}",
                    pytrace=False)
    if result.status == "SKIP":
        pytest.skip(result.reason)
