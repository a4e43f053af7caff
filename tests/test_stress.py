"""The short form of make stress, per user-space backend: the kill -9
lifecycle fuzzer (100 iterations), a 10,000-command flood, a hostile client
beside an honest one, and a short soak, all counts zero
(tests/stress/run.py; `make stress` runs the full one)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "stress_run", Path(__file__).parent / "stress" / "run.py")
assert _SPEC and _SPEC.loader
stress = importlib.util.module_from_spec(_SPEC)
sys.modules["stress_run"] = stress
_SPEC.loader.exec_module(stress)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.xdist_group(f"stress-{b}"))
                                     for b in stress.BACKENDS])
def test_stress_short(backend: str) -> None:
    if not stress.binary(backend).is_file():
        pytest.fail(f"{stress.binary(backend)} is missing: run `make test` "
                    f"(or `python -m testbed build {backend}`)")
    seed = random.randrange(1, 1 << 31)
    results = stress.run_backend(backend, "short", seed)
    assert all(r.clean for r in results), stress.table(backend, results)
