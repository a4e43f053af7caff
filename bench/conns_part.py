"""The connections part of make bench (issue 15 item 4): one server and 1, 10,
100 and 1,000 connected clients (threads of one process, each with its own
connection) issuing synchronous 64 B commands back to back (bench-conns).

Per count: throughput, p50/p99, the server's threads and its RSS growth per
connection, the median of the rounds (counts interleaved per round, so noise
hits them alike).  Records cse_conns_<N>.  Targets: throughput at 1,000
within 20% of 10, and server threads O(workers), not O(connections): the
server has no more threads with 1,000 connections than with one.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CONNS: tuple[int, ...] = (1, 10, 100, 1000)
QUICK_CONNS: tuple[int, ...] = (1, 10, 100)  # --quick: a smoke run, not the figures
SECONDS = (2, 1)  # per run: full, --quick
TIMEOUT_S = 180
TPUT_WITHIN = 0.20

Record = dict[str, Any]


def run_one(build: Path, conns: int, seconds: int) -> Record | None:
    argv = [str(build / "bench" / "bench-conns"), "--conns", str(conns),
            "--seconds", str(seconds)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S,
                           check=False)
    except subprocess.TimeoutExpired:
        print(f"bench: timeout: {' '.join(argv)}", file=sys.stderr)
        return None
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        print(f"bench: exit {p.returncode}: {' '.join(argv)}\n{p.stderr.strip()}",
              file=sys.stderr)
        return None
    return json.loads(lines[-1])


def median(samples: Sequence[Record]) -> Record:
    rec: Record = dict(samples[0])
    for k in ("p50_ns", "p99_ns", "ops_per_s", "rss_kib_per_conn", "server_threads",
              "connect_s"):
        rec[k] = statistics.median(float(s[k]) for s in samples)
    rec["p50_ns"] = round(rec["p50_ns"])
    rec["p99_ns"] = round(rec["p99_ns"])
    rec["server_threads"] = round(rec["server_threads"])
    return rec


def run(build: Path, quick: bool, rounds: int,
        progress: Callable[[str], None]) -> tuple[list[Record], int]:
    samples: dict[int, list[Record]] = {}
    failures = 0
    if not (build / "bench" / "bench-conns").is_file():
        print(f"bench: missing {build / 'bench' / 'bench-conns'}", file=sys.stderr)
        return [], 1
    counts = QUICK_CONNS if quick else CONNS
    for r in range(rounds):
        order = list(counts[r % len(counts):]) + list(counts[:r % len(counts)])
        for n in order:
            progress(f"round {r + 1}/{rounds}: connections {n}")
            rec = run_one(build, n, SECONDS[1 if quick else 0])
            if rec is None:
                failures += 1
                continue
            samples.setdefault(n, []).append(rec)
    return [median(samples[n]) for n in CONNS if n in samples], failures


def rows(records: Sequence[Record], fmt: Any) -> list[list[str]]:
    return [[str(r["inflight"]), fmt.fmt_ops(r["ops_per_s"]), fmt.fmt_ns(r["p50_ns"]),
             fmt.fmt_ns(r["p99_ns"]), f"{r['server_threads']} (idle {r['server_threads_base']})",
             f"{r['rss_kib_per_conn']:.1f} KiB", f"{r['connect_s']:.2f} s"]
            for r in records]


HEAD = ["connections", "ops/s", "p50", "p99", "server threads", "server RSS / conn",
        "connect all"]


def targets(records: Sequence[Record], target_cls: Any) -> list[Any]:
    by = {int(r["inflight"]): r for r in records}
    out = []
    if 10 in by and 1000 in by:
        x = by[1000]["ops_per_s"] / by[10]["ops_per_s"]
        out.append(target_cls("throughput, 1,000 connections / 10", f">= {1 - TPUT_WITHIN:g}x",
                              f"{x:.2f}x", x >= 1 - TPUT_WITHIN))
    else:
        out.append(target_cls("throughput, 1,000 connections / 10", ">= 0.8x", "-", None))
    if 1 in by and 1000 in by:
        t1, tn = by[1]["server_threads"], by[1000]["server_threads"]
        out.append(target_cls("server threads, 1,000 connections vs 1 (O(workers))",
                              f"<= {t1}", str(tn), tn <= t1))
    else:
        out.append(target_cls("server threads, 1,000 connections vs 1 (O(workers))",
                              "<= threads at 1", "-", None))
    return out
