"""make bench's Python part: the binding (`cse`) side by side with what a
Python developer would pick instead, in one run (bench/run.py --python).

Sync round trip, 64 B and 4 KiB, client and server in two Python processes
each (bench/py_peers.py): python_cse (cse.Client.call to a cse.Server
handler), python_busypoll (a ping-pong on shared words in an mmap: the
Python floor), python_iceoryx2 (its request-response API), python_zmq
(REQ/REP over ipc://), python_mp_pipe (multiprocessing.Pipe),
python_socketpair (AF_UNIX stream).  Async throughput of 64 B echoes from
one Python thread to a C conformance server: Client.call_many (a batch,
results as arrays), one Future per command (submit), asyncio (acall).

As in the C part, every configuration runs once per round in rotated
order and the median of the rounds is kept: on this 2-core machine only
ratios measured side by side mean anything.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = HERE / "py_peers.py"

SYNC_PAYLOADS = (64, 4096)
SYNC_MECHS = ("python_cse", "python_busypoll", "python_iceoryx2", "python_zmq",
              "python_mp_pipe", "python_socketpair")
#: (full, --quick) round trips per job
SYNC_ITERS = {64: (50_000, 1_000), 4096: (30_000, 500)}
#: (mode, commands in flight, (full, --quick) commands)
ASYNC_JOBS = (("batch", 32, (400_000, 20_000)), ("batch", 64, (400_000, 20_000)),
              ("submit", 32, (50_000, 1_000)), ("acall", 32, (50_000, 1_000)))
ASYNC_MECH = {"batch": "python_cse_batch", "submit": "python_cse_submit",
              "acall": "python_cse_acall"}
JOB_TIMEOUT_S = 300

TARGET_FLOOR_X = 2.0        # python_cse <= 2x python_busypoll, sync 64 B p50
TARGET_ICEORYX2_X = 6.0     # python_iceoryx2 >= 6x python_cse, sync 64 B p50
TARGET_BATCH_OPS = 1e6      # batch commands/s from one Python thread

#: the tables' width: the longest mechanism names fit
WIDTH = 96
#: printed under the tables
NOTES = ("cse: python_cse; floor: python_busypoll.  Async p50/p99: for the batch, the time "
         "per command (each batch's time / its commands); for submit and acall, issue to "
         "done.\n"
         "Python<->C crossings per python_cse round trip: 2, one per process -- the "
         "client's call (a C function: it releases the GIL, runs the command, takes the "
         "GIL back and builds the Reply) and the server's exec (the runtime's thread takes "
         "the GIL and calls the handler); python_busypoll has none, all its work is "
         "bytecode")
Job = tuple[str, str, int, int, int]   # kind, mechanism or mode, payload, inflight, iters
Key = tuple[str, str, int, int]


def plan(quick: bool) -> list[list[Job]]:
    """Groups of jobs compared with each other, in run order."""
    pick = 1 if quick else 0
    groups: list[list[Job]] = [[("sync", m, p, 1, SYNC_ITERS[p][pick]) for m in SYNC_MECHS]
                               for p in SYNC_PAYLOADS]
    groups.append([("async", mode, 64, n, iters[pick]) for mode, n, iters in ASYNC_JOBS])
    return groups


def run_job(job: Job, server_id: str) -> dict[str, Any] | None:
    kind, mech, payload, inflight, iters = job
    argv = [sys.executable, str(PEERS), kind, mech]
    argv += [str(payload), str(iters)] if kind == "sync" else [str(inflight), str(iters),
                                                               server_id]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"bench: timeout: {' '.join(argv)}", file=sys.stderr)
        return None
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        print(f"bench: exit {p.returncode}: {' '.join(argv)}\n{p.stderr.strip()[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(lines[-1])


def _median(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rec = {k: samples[0][k] for k in ("case", "mechanism", "payload", "inflight")}
    for f in ("p50_ns", "p99_ns"):
        rec[f] = round(statistics.median(s[f] for s in samples))
    rec["ops_per_s"] = round(statistics.median(s["ops_per_s"] for s in samples), 1)
    return rec


def collect(build: Path, quick: bool, rounds: int,
            progress: Callable[[str], None]) -> tuple[dict[Key, dict[str, Any]], int]:
    """Run every job `rounds` times (rotating within a group); medians."""
    helper = build / "tests" / "cse-conf-helper"
    if not helper.exists():
        print(f"bench: {helper} missing (the async part's C server)", file=sys.stderr)
        return {}, 1
    server_id = f"bench-py-async-{os.getpid()}"
    # On the server's CPU, as py_peers.py puts its servers (and its clients
    # on the other one).
    cpus = sorted(os.sched_getaffinity(0))
    server = subprocess.Popen([str(helper), "server", server_id], preexec_fn=(
        (lambda: os.sched_setaffinity(0, {cpus[1]})) if len(cpus) >= 2 else None))
    samples: dict[Key, list[dict[str, Any]]] = {}
    failures = 0
    try:
        for r in range(rounds):
            for group in plan(quick):
                shift = r % len(group)
                for job in group[shift:] + group[:shift]:
                    progress(f"python round {r + 1}/{rounds}: {job[0]} {job[1]} "
                             f"payload={job[2]} inflight={job[3]}")
                    rec = run_job(job, server_id)
                    if rec is None:
                        failures += 1
                        continue
                    key = (rec["case"], rec["mechanism"], rec["payload"], rec["inflight"])
                    samples.setdefault(key, []).append(rec)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {k: _median(v) for k, v in samples.items()}, failures


def ordered(results: dict[Key, dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [("py_sync_rtt", m, p, 1) for p in SYNC_PAYLOADS for m in SYNC_MECHS]
    keys += [("py_async_tput", ASYNC_MECH[mode], 64, n) for mode, n, _ in ASYNC_JOBS]
    return [results[k] for k in keys if k in results]


# ---- presentation: run.py's formats and table printer ----

def _p50(results: dict[Key, dict[str, Any]], mech: str, payload: int) -> float | None:
    rec = results.get(("py_sync_rtt", mech, payload, 1))
    return None if rec is None else float(rec["p50_ns"])


def sync_rows(results: dict[Key, dict[str, Any]], fmt: Any) -> list[list[str]]:
    rows = []
    for payload in SYNC_PAYLOADS:
        ref = _p50(results, "python_cse", payload)
        floor = _p50(results, "python_busypoll", payload)
        for mech in SYNC_MECHS:
            rec = results.get(("py_sync_rtt", mech, payload, 1))
            if rec is None:
                continue
            rows.append([fmt.fmt_payload(payload), mech, fmt.fmt_ns(rec["p50_ns"]),
                         fmt.fmt_ns(rec["p99_ns"]), fmt.fmt_ops(rec["ops_per_s"]),
                         f"{rec['p50_ns'] / ref:.3g}x" if ref else "-",
                         f"{rec['p50_ns'] / floor:.3g}x" if floor else "-"])
    return rows


def async_rows(results: dict[Key, dict[str, Any]], fmt: Any) -> list[list[str]]:
    rows = []
    for mode, n, _ in ASYNC_JOBS:
        rec = results.get(("py_async_tput", ASYNC_MECH[mode], 64, n))
        if rec is None:
            continue
        rows.append([ASYNC_MECH[mode], str(n), fmt.fmt_ops(rec["ops_per_s"]),
                     fmt.fmt_ns(rec["p50_ns"]), fmt.fmt_ns(rec["p99_ns"])])
    return rows


def targets(results: dict[Key, dict[str, Any]], fmt: Any) -> list[Any]:
    out = [
        fmt.ratio_target("python_cse / python_busypoll, sync 64 B p50",
                         _p50(results, "python_cse", 64), _p50(results, "python_busypoll", 64),
                         TARGET_FLOOR_X, at_least=False),
        fmt.ratio_target("python_iceoryx2 / python_cse, sync 64 B p50",
                         _p50(results, "python_iceoryx2", 64), _p50(results, "python_cse", 64),
                         TARGET_ICEORYX2_X, at_least=True),
    ]
    best = max((results[k] for k in results if k[1] == "python_cse_batch"),
               key=lambda r: r["ops_per_s"], default=None)
    if best is None:
        out.append(fmt.Target("python_cse_batch async throughput", ">= 1 M/s", "-", None))
    else:
        out.append(fmt.Target("python_cse_batch, one Python thread",
                              ">= 1 M/s", f"{fmt.fmt_ops(best['ops_per_s'])} at "
                              f"{best['inflight']} in flight",
                              best["ops_per_s"] >= TARGET_BATCH_OPS))
    return out


def print_report(results: dict[Key, dict[str, Any]], rounds: int, fmt: Any) -> None:
    tgts = targets(results, fmt)
    sections = [
        (f"Python sync round trip, two processes (median of {rounds} rounds)",
         ["payload", "mechanism", "p50", "p99", "ops", "p50 / cse", "p50 / floor"],
         sync_rows(results, fmt)),
        (f"Python async, 64 B, one Python thread, C server (median of {rounds} rounds)",
         ["mechanism", "inflight", "ops", "p50", "p99"], async_rows(results, fmt)),
        ("Python targets", fmt.TARGET_HEAD,
         fmt.target_rows(tgts)),
    ]
    fmt.print_sections(sections, width=WIDTH)
    print(NOTES)


def run(build: Path, quick: bool, rounds: int, progress: Callable[[str], None],
        fmt: Any) -> tuple[list[dict[str, Any]], int]:
    """Measure, print the tables and targets; (records, failed jobs)."""
    results, failures = collect(build, quick, rounds, progress)
    print_report(results, rounds, fmt)
    return ordered(results), failures
