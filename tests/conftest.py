"""Shared pytest setup: make the testbed package importable from a checkout."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_sessionstart(session: object) -> None:
    """Only the controller (or a plain run) clears earlier runs' shared results."""
    import os

    from testbed import runonce

    if "PYTEST_XDIST_WORKER" not in os.environ:
        runonce.clean_old(keep=runonce.run_id())
