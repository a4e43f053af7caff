#!/usr/bin/env python3
"""make stress: the fault-injection suite (cse-stress) on every user-space
backend, and one table per backend.

Parts, per backend (tests/stress/*.c says what each checks):
  lifecycle  kill -9 the server or a client 0-50 ms into a mix of sync,
             async and backup-sized commands, N iterations
  flood      N asynchronous commands outstanding at once
  hostile    a client scribbling its FIFOs and slot headers while an
             honest client of another process keeps working
  soak       the mix for a while, RSS, fds and threads of both sides sampled
  slow       a handler sleeping on a backup and on a CSE_SUBMIT_CTL command:
             another client's added p99 and a killed client's detection time,
             printed against their targets (SLOW_TARGETS)

Every count must be 0 (and a soak of 5 minutes or more may grow its RSS by
at most 64 KiB a minute after the first): else the run fails (exit 1) and
prints the seed and the command that reproduces each failing part.  The
short profile (--short) is the form `make test` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("linux", "emulated")
BINARY = "tests/stress/cse-stress"

#: part -> its size argument, per profile
PROFILES: dict[str, dict[str, int]] = {
    "full": {"lifecycle": 1000, "flood": 10000, "hostile": 60, "soak": 600, "slow": 3},
    "short": {"lifecycle": 100, "flood": 10000, "hostile": 3, "soak": 10, "slow": 1},
}
#: the slow part's figures -> (label, target in ms, at most)
SLOW_TARGETS: dict[str, tuple[str, float]] = {
    "p99_added_ms": ("added p99 of a sync command beside a slow handler", 10.0),
    "death_ms": ("a killed client's close_handler beside a slow handler", 100.0),
}
COUNTS = ("hangs", "lost", "duplicated", "bad", "leaked_fds", "leaked_threads",
          "leaked_shm", "crashes")
RSS_SLOPE_MAX = 64.0


@dataclass
class PartResult:
    """One part's JSON line (or why there is none), and how long it took."""

    part: str
    command: list[str]
    data: dict = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        if self.error:
            return False
        if any(self.data.get(k) for k in COUNTS):
            return False
        slope = self.data.get("rss_slope_kib_min")
        return not (self.data.get("rss_judged") and slope is not None and slope > RSS_SLOPE_MAX)


def binary(backend: str) -> Path:
    return ROOT / "build" / backend / BINARY


def run_part(backend: str, part: str, size: int, seed: int, timeout_s: float) -> PartResult:
    cmd = [str(binary(backend)), part, str(size), str(seed)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return PartResult(part, cmd, error=f"did not finish within {timeout_s:.0f} s (a hang)",
                          seconds=time.monotonic() - t0)
    except OSError as e:
        return PartResult(part, cmd, error=f"cannot run: {e}", seconds=time.monotonic() - t0)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    res = PartResult(part, cmd, seconds=time.monotonic() - t0)
    try:
        res.data = json.loads(lines[-1])
    except (IndexError, ValueError):
        res.error = f"no result (exit {p.returncode}): {p.stderr.strip()[-500:]}"
        return res
    if p.returncode not in (0, 1):
        res.error = f"exit {p.returncode} (crashed?): {p.stderr.strip()[-500:]}"
    return res


def run_backend(backend: str, profile: str, seed: int) -> list[PartResult]:
    """Every part of @profile on @backend, in order."""
    sizes = PROFILES[profile]
    results = []
    for part, size in sizes.items():
        timeout = 120 + (size if part in ("hostile", "soak") else
                         size * 30 if part == "slow" else size * 0.5)
        results.append(run_part(backend, part, size, seed, timeout))
    return results


def _cell(res: PartResult, key: str) -> str:
    if key == "rss_slope_kib_min":
        v = res.data.get(key)
        if v is None:
            return "-"
        return f"{v:.0f}" + ("" if res.data.get("rss_judged") else " (not judged)")
    return str(res.data.get(key, "?"))


def table(backend: str, results: list[PartResult]) -> str:
    """The backend's table as plain text (a log reads it as well as a terminal)."""
    heads = ["part", "iterations", "commands", *COUNTS, "RSS KiB/min", "time"]
    rows = [[r.part, _cell(r, "iterations"), _cell(r, "commands"),
             *(_cell(r, k) for k in COUNTS), _cell(r, "rss_slope_kib_min"),
             f"{r.seconds:.0f} s"] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    line = "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))
    out = [f"cse-stress, {backend} backend", line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in results:
        for key, (label, target) in SLOW_TARGETS.items():
            if key in r.data:
                v = float(r.data[key])
                out.append(f"{label}: {v:.1f} ms (target <= {target:.0f} ms: "
                           f"{'met' if v <= target else 'missed'})")
    for r in results:
        if not r.clean:
            why = r.error or ", ".join(f"{k} {r.data[k]}" for k in COUNTS if r.data.get(k))
            out.append(f"FAILED {r.part}: {why or 'RSS grew'}; reproduce: {' '.join(r.command)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="the short form make test runs")
    ap.add_argument("--seed", type=int, default=None, help="reproduce a run (default: random)")
    ap.add_argument("--backend", action="append", choices=BACKENDS,
                    help="only this backend (repeatable; default both)")
    args = ap.parse_args(argv)
    backends = args.backend or list(BACKENDS)
    missing = [str(binary(b)) for b in backends if not binary(b).is_file()]
    if missing:
        print(f"missing {', '.join(missing)}: run python -m testbed build "
              f"{' '.join(backends)}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1, 1 << 31)
    profile = "short" if args.short else "full"
    print(f"cse-stress, {profile} profile, seed {seed}", flush=True)
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(backends)) as pool:
        runs = dict(zip(backends, pool.map(lambda b: run_backend(b, profile, seed), backends),
                        strict=True))
    for backend, results in runs.items():
        print()
        print(table(backend, results))
    clean = all(r.clean for results in runs.values() for r in results)
    print(f"\n{'all zeros' if clean else 'FAILED'}: wall time {time.monotonic() - t0:.0f} s, "
          f"seed {seed}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
