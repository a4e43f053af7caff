"""One server and many connections (issue 15 item 4), through bench-conns
(bench/conns.c, which raises its own open-file limit to the hard one):

- on the linux backend, a server with 1,000 connected, idle clients uses at
  most 1% of one CPU over 5 s once spinning has ended (a loose bound: an
  idle connection must cost no polling);
- a server out of descriptors refuses the clients past its limit with a
  clear -EMFILE, at once, never a hang (a low --server-nofile);
- the record make bench writes for each count (cse_conns_<N>) has the
  fields bench/conns_part.py tabulates, and so has its baseline's
  (bench-conns-futex, futex_conns_<N>).

The emulated backend polls shared words by design; its idle cost is
printed, not judged.
"""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import pytest

from testbed.builds import FLAVOURS

IDLE_CPU_MAX_PCT = 1.0
GROUP = pytest.mark.xdist_group("conns")


def _bench(flavour: str) -> Path:
    exe = FLAVOURS[flavour].builddir / "bench" / "bench-conns"
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: run `python -m testbed build {flavour}`")
    return exe


def _run(exe: Path, *args: str, timeout: float = 180) -> tuple[int, dict, str]:
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                       check=False)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    return p.returncode, (json.loads(lines[-1]) if lines else {}), p.stderr


@GROUP
def test_idle_server_with_1000_connections() -> None:
    rc, rec, err = _run(_bench("linux"), "--conns", "1000", "--seconds", "1", "--idle", "5")
    assert rc == 0, err[-2000:]
    for key in ("p50_ns", "p99_ns", "ops_per_s", "server_threads", "server_threads_base",
                "rss_kib_per_conn", "connect_s", "client_sleeps_per_cmd"):
        assert key in rec, rec
    assert rec["mechanism"] == "cse_conns_1000" and rec["inflight"] == 1000
    print(f"linux: idle server, 1000 connections: {rec['idle_cpu_pct']:.3f}% of one CPU "
          f"over 5 s; {rec['server_threads']} server threads")
    assert rec["idle_cpu_pct"] <= IDLE_CPU_MAX_PCT, rec
    # Every command asked for an answer; no client sleeps twice for one.
    assert 0 <= rec["client_sleeps_per_cmd"] <= 2, rec


@GROUP
def test_the_futex_baseline_serves_1000_clients() -> None:
    """bench-conns-futex, bench-conns' baseline: every client's commands come
    back (it exits nonzero on a wrong answer), with the fields make bench uses."""
    exe = FLAVOURS["linux"].builddir / "bench" / "bench-conns-futex"
    rc, rec, err = _run(exe, "--conns", "1000", "--seconds", "1")
    assert rc == 0, err[-2000:]
    assert rec["mechanism"] == "futex_conns_1000" and rec["inflight"] == 1000, rec
    assert rec["ops_per_s"] > 0 and rec["p50_ns"] <= rec["p99_ns"], rec
    assert 0 <= rec["client_sleeps_per_cmd"] <= 2, rec
    rc, _, err = _run(exe, "--conns", "0")
    assert rc == 2 and "usage" in err, err


@GROUP
def test_idle_cost_emulated_reported() -> None:
    rc, rec, err = _run(_bench("emulated"), "--conns", "100", "--seconds", "1", "--idle", "2")
    assert rc == 0, err[-2000:]
    print(f"emulated: idle server, 100 connections: {rec['idle_cpu_pct']:.1f}% of one CPU "
          "(polls by design)")


@GROUP
@pytest.mark.parametrize("flavour", ["linux", "emulated"])
def test_server_out_of_fds_says_emfile(flavour: str) -> None:
    rc, rec, err = _run(_bench(flavour), "--conns", "100", "--seconds", "1",
                        "--server-nofile", "64", timeout=60)
    assert rc == 1, (rc, rec, err[-2000:])
    assert rec.get("errno") == errno.EMFILE, (rec, err[-2000:])
    assert 0 < rec["connect_failed"] < 100, rec
