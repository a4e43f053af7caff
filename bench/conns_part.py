"""The connections part of make bench (issue 15 item 4): one server and 1, 10,
100 and 1,000 connected clients (threads of one process, each with its own
connection) issuing synchronous 64 B commands back to back (bench-conns).

Per count: throughput, p50/p99, how often a client slept for its answer,
the server's threads and its RSS growth per connection, the median of the
rounds (counts interleaved per round, so noise hits them alike).  Beside
each, the same clients served with no CSE by a hand-written baseline of two
worker threads, a queue and a futex per client (bench-conns-futex).
Records cse_conns_<N> and futex_conns_<N>.  Targets: throughput at 1,000
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


PROGRAMS: tuple[str, ...] = ("bench-conns", "bench-conns-futex")


def run_one(build: Path, conns: int, seconds: int,
            program: str = "bench-conns") -> Record | None:
    argv = [str(build / "bench" / program), "--conns", str(conns),
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
              "connect_s", "client_sleeps_per_cmd"):
        if k in rec:
            rec[k] = statistics.median(float(s[k]) for s in samples)
    rec["p50_ns"] = round(rec["p50_ns"])
    rec["p99_ns"] = round(rec["p99_ns"])
    if "server_threads" in rec:
        rec["server_threads"] = round(rec["server_threads"])
    return rec


def run(build: Path, quick: bool, rounds: int,
        progress: Callable[[str], None]) -> tuple[list[Record], int]:
    samples: dict[tuple[str, int], list[Record]] = {}
    failures = 0
    for prog in PROGRAMS:
        if not (build / "bench" / prog).is_file():
            print(f"bench: missing {build / 'bench' / prog}", file=sys.stderr)
            return [], 1
    counts = QUICK_CONNS if quick else CONNS
    for r in range(rounds):
        order = list(counts[r % len(counts):]) + list(counts[:r % len(counts)])
        for n in order:
            progress(f"round {r + 1}/{rounds}: connections {n}")
            for prog in PROGRAMS:
                rec = run_one(build, n, SECONDS[1 if quick else 0], prog)
                if rec is None:
                    failures += 1
                    continue
                samples.setdefault((prog, n), []).append(rec)
    return [median(samples[(p, n)]) for p in PROGRAMS for n in CONNS
            if (p, n) in samples], failures


def cse_records(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if str(r["mechanism"]).startswith("cse_conns_")]


def futex_by_count(records: Sequence[Record]) -> dict[int, Record]:
    return {int(r["inflight"]): r for r in records
            if str(r["mechanism"]).startswith("futex_conns_")}


def rows(records: Sequence[Record], fmt: Any) -> list[list[str]]:
    futex = futex_by_count(records)
    out = []
    for r in cse_records(records):
        f = futex.get(int(r["inflight"]))
        out.append([
            str(r["inflight"]), fmt.fmt_ops(r["ops_per_s"]), fmt.fmt_ns(r["p50_ns"]),
            fmt.fmt_ns(r["p99_ns"]), f"{r['client_sleeps_per_cmd']:.2f}",
            f"{r['server_threads']} (idle {r['server_threads_base']})",
            f"{r['rss_kib_per_conn']:.1f} KiB", f"{r['connect_s']:.2f} s",
            fmt.fmt_ops(f["ops_per_s"]) if f else "-",
            f"{f['client_sleeps_per_cmd']:.2f}" if f else "-",
            f"{r['ops_per_s'] / f['ops_per_s']:.2f}x" if f else "-"])
    return out


HEAD = ["connections", "ops/s", "p50", "p99", "client sleeps / cmd", "server threads",
        "server RSS / conn", "connect all", "futex baseline ops/s", "its sleeps / cmd",
        "cse / futex"]


def targets(records: Sequence[Record], target_cls: Any) -> list[Any]:
    by = {int(r["inflight"]): r for r in cse_records(records)}
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
