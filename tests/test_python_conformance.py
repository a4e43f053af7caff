"""Conformance with the Python binding, as pytest results:

- the Python scenarios (tests/pycse/scenarios.py: echo, default copies,
  async many in flight, several threads, inline vs worker, large payload
  via backup, slot exhaustion, zero length, unknown code, server death,
  client death) from a Python client against C and against Python
  conformance servers, each in their own processes, one result each;
- the C conformance suite (cse-conformance, every scenario) against Python
  servers: its world starts them, and the doomed clients it kills, through
  $CSE_CONF_HELPER;
- the chunk-scribbling C client (test-hostile --server) against a Python
  server, which must drop it and keep serving.
The kernel's servers and clients meet the binding in tests/test_kernel.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from pycse import helper_script, peers
from pycse.scenarios import SCENARIOS, Skip, World

from testbed import ktap, runonce
from testbed.builds import FLAVOURS

BUILD = FLAVOURS["linux"].builddir


@pytest.fixture(scope="module", params=peers.KINDS, ids=lambda k: f"{k}-servers")
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    kind = request.param
    inline, worker = peers.unique(f"{kind}-inline"), peers.unique(f"{kind}-worker")
    procs = [peers.start(kind, inline), peers.start(kind, worker, worker=True)]
    try:
        yield World(inline, worker, spawn_server=lambda sid: peers.start(kind, sid))
    finally:
        for p in procs:
            assert peers.stop(p) == 0, f"a {kind} conformance server did not stop cleanly"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_python_client(world: World, name: str) -> None:
    try:
        SCENARIOS[name](world)
    except Skip as e:
        pytest.skip(str(e))


# ---- C clients against Python servers ----

def _ktap_cases(binary: str) -> list[str]:
    try:
        out = subprocess.run([str(BUILD / binary), "--list"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return ["BUILD-MISSING"]
    return out


def _run(key: str, argv: list[str], env: dict[str, str] | None = None) -> dict:
    def run() -> dict:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                           env=os.environ | (env or {}))
        return {"returncode": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
    return runonce.once(key, run)


def _case(r: dict, case: str) -> None:
    if case == "BUILD-MISSING":
        pytest.fail(f"C test binaries missing in {BUILD}: run `make test`")
    run = ktap.parse(r["stdout"])
    c = run.by_name().get(case)
    tail = (r["stdout"] + r["stderr"])[-3000:]
    assert c is not None, f"{case} never reported (exit {r['returncode']})\n{tail}"
    if c.status == "skip":
        pytest.skip(c.reason or "skipped")
    assert c.status == "pass", f"{case}: {c.reason}\n" + "\n".join(c.diagnostics) + tail


@pytest.mark.parametrize("case", _ktap_cases("tests/cse-conformance"))
def test_c_client_python_servers(case: str) -> None:
    """cse-conformance's scenarios, every one, against Python servers (the
    conformance run starts them, and its doomed clients, through
    $CSE_CONF_HELPER: conf_server.py)."""
    r = _run("py-c-conformance", [str(BUILD / "tests/cse-conformance")],
             {"CSE_CONF_HELPER": str(helper_script())})
    _case(r, case)


@pytest.mark.parametrize("case", _ktap_cases("tests/unit/test-hostile"))
def test_hostile_c_client_python_server(case: str) -> None:
    """A C client writing garbage into its chunk and control channel: the
    Python server drops it and keeps serving an honest client."""
    def run() -> dict:
        sid = peers.unique("hostile-target")
        srv = peers.start("python", sid)
        try:
            p = subprocess.run([str(BUILD / "tests/unit/test-hostile"), "--server", sid],
                               capture_output=True, text=True, timeout=600)
        finally:
            rc = peers.stop(srv)
        return {"returncode": p.returncode, "stdout": p.stdout,
                "stderr": p.stderr + f"\n# python server exit status {rc}"}
    r = runonce.once("py-hostile-client", run)
    assert "python server exit status 0" in r["stderr"], r["stderr"][-2000:]
    _case(r, case)
