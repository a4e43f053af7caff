#!/usr/bin/env python3
"""Run the CSE benchmark side by side with its peers and report ratios.

Runs bench-cse (spinning and non-spinning) and bench-baselines (socketpair,
pipe, eventfd+shm, futex+shm, busy-poll shm) from a Meson build directory.
The cases are interleaved: every round runs each configuration once, in a
rotated order, and the median over the rounds is kept, so noise on this small
shared machine hits all mechanisms alike.  Prints a table with ratios and the
issue's targets (met / MISSED), and writes report/bench.json: a list of
records {case, mechanism, payload, inflight, p50_ns, p99_ns, ops_per_s};
sync_rtt records also carry mean_ns, the mean round trip of an untimed loop
(N round trips / wall time, no clock inside; the median of 16 stretches),
and clock_ns, what one
clock_gettime costs (about one is inside every per-sample figure).  The
floor ratios are computed from the untimed means: the per-sample clock
adds the same ~clock_ns to both sides and would flatter them.
Then one server with 1, 10, 100 and 1,000 connections (bench/conns_part.py,
records cse_conns_<N>, which add the server's threads and memory), unless
--no-conns.

A missed target is a result, not an error: the exit status is 0 then.  It is
1 when a benchmark process failed (crash, bad echo, timeout) and 2 when a
binary is missing.
"""

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from rich.console import Console
    from rich.table import Table
except ImportError:  # plain-text tables then
    Console = None  # type: ignore[assignment,misc]
    Table = None  # type: ignore[assignment,misc]

SYNC_PAYLOADS: tuple[int, ...] = (64, 4096, 1 << 20)
ASYNC_INFLIGHT: tuple[int, ...] = (1, 8, 32)
ASYNC_PAYLOAD = 64
BASELINES: tuple[str, ...] = (
    "socketpair",
    "pipe",
    "eventfd_shm",
    "futex_shm",
    "busypoll_shm",
)
CSE_MECHS: tuple[str, ...] = ("cse_spin", "cse_nospin")
#: async only, at BATCH_INFLIGHT in flight: cse_spin with the commands in
#: groups of B, each group issued with one cse_execute_batch() (bench-cse --batch)
BATCH_MECHS: tuple[str, ...] = ("cse_spin_batch8", "cse_spin_batch32")
BATCH_INFLIGHT = 32
SYNC_MECHS: tuple[str, ...] = CSE_MECHS + BASELINES
# Run order within a round (rotated each round): the pairs that a target
# compares sit next to each other, so they see the same machine state (the
# host moves this VM's vCPUs around; cross-core latency changes by 3-4x).
RUN_ORDER: tuple[str, ...] = (
    "cse_spin",
    "busypoll_shm",
    "socketpair",
    "pipe",
    "eventfd_shm",
    "futex_shm",
    "cse_nospin",
)
FIELDS: tuple[str, ...] = (
    "case",
    "mechanism",
    "payload",
    "inflight",
    "p50_ns",
    "p99_ns",
    "ops_per_s",
)

# Measured iterations per run: (full, --quick).
SYNC_ITERS: dict[int, tuple[int, int]] = {
    64: (50_000, 2_000),
    4096: (30_000, 1_000),
    1 << 20: (500, 20),
}
ASYNC_ITERS: tuple[int, int] = (200_000, 2_000)
JOB_TIMEOUT_S = 300

# Targets from the issue.
TARGET_SOCKETPAIR_X = 20.0
TARGET_BUSYPOLL_X = 3.0
TARGET_ASYNC_OPS = 2_000_000.0
#: U-U async at BATCH_INFLIGHT in flight, batched or not (issue 15, item 2)
TARGET_ASYNC_32_OPS = 12_000_000.0
#: cse_spin's untimed mean over the busy-poll floor's, per payload (issue 15)
TARGET_FLOOR_X: dict[int, float] = {64: 2.0, 4096: 1.3}
FLOOR = "busypoll_shm"
#: optional figures of sync_rtt records (medians over the rounds like the rest)
SYNC_EXTRA: tuple[str, ...] = ("mean_ns", "clock_ns")

Key = tuple[str, str, int, int]
Record = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """One benchmark process: a single case of a single mechanism."""

    case: str
    mechanism: str
    payload: int
    inflight: int
    iters: int

    @property
    def key(self) -> Key:
        return (self.case, self.mechanism, self.payload, self.inflight)

    def argv(self, build: Path, extra_cse: Sequence[str]) -> list[str]:
        if self.mechanism in BASELINES:
            exe = build / "bench" / "bench-baselines"
            return [str(exe), self.mechanism, str(self.payload), str(self.iters)]
        exe = build / "bench" / "bench-cse"
        spin = "--spin" if self.mechanism.startswith("cse_spin") else "--no-spin"
        argv = [str(exe), spin, "--case", self.case, "--iters", str(self.iters)]
        if self.mechanism in BATCH_MECHS:
            argv += ["--batch", self.mechanism.rsplit("_batch", 1)[1]]
        if self.case == "sync_rtt":
            argv += ["--payload", str(self.payload)]
        else:
            argv += ["--inflight", str(self.inflight)]
        return argv + list(extra_cse)


def plan(quick: bool, mechanisms: Sequence[str], callback_mode: bool = True) -> list[list[Job]]:
    """Groups of jobs that are compared with each other, in run order (the
    batched ones need bench-cse's callback mode)."""
    pick = 1 if quick else 0
    groups: list[list[Job]] = []
    for payload in SYNC_PAYLOADS:
        iters = SYNC_ITERS[payload][pick]
        groups.append(
            [Job("sync_rtt", mech, payload, 1, iters) for mech in RUN_ORDER if mech in mechanisms]
        )
    async_jobs = [
        Job("async_tput", mech, ASYNC_PAYLOAD, n, ASYNC_ITERS[pick])
        for n in ASYNC_INFLIGHT
        for mech in CSE_MECHS
        if mech in mechanisms
    ]
    if "cse_spin" in mechanisms and callback_mode:
        async_jobs += [Job("async_tput", mech, ASYNC_PAYLOAD, BATCH_INFLIGHT, ASYNC_ITERS[pick])
                       for mech in BATCH_MECHS]
    groups.append(async_jobs)
    return [g for g in groups if g]


def run_job(job: Job, build: Path, extra_cse: Sequence[str]) -> Record | None:
    """Runs one job; returns its record, or None (after a message) on failure."""
    argv = job.argv(build, extra_cse)
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        print(f"bench: timeout: {' '.join(argv)}", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(
            f"bench: exit {proc.returncode}: {' '.join(argv)}\n{proc.stderr.strip()}",
            file=sys.stderr,
        )
        return None
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        rec: Record = json.loads(line)
        if (rec["case"], rec["mechanism"], rec["payload"], rec["inflight"]) == job.key:
            return rec
    print(f"bench: no record from: {' '.join(argv)}", file=sys.stderr)
    return None


def median_record(samples: Sequence[Record]) -> Record:
    """Median of each figure over the rounds (each figure on its own)."""
    first = samples[0]
    rec: Record = {f: first[f] for f in FIELDS[:4]}
    rec["p50_ns"] = round(statistics.median(s["p50_ns"] for s in samples))
    rec["p99_ns"] = round(statistics.median(s["p99_ns"] for s in samples))
    rec["ops_per_s"] = round(statistics.median(s["ops_per_s"] for s in samples), 1)
    for f in SYNC_EXTRA:
        if all(f in s for s in samples):
            rec[f] = round(statistics.median(s[f] for s in samples), 1)
    if "backend" in first:
        rec["backend"] = first["backend"]
    return rec


def collect(
    groups: Sequence[Sequence[Job]],
    rounds: int,
    build: Path,
    extra_cse: Sequence[str],
    progress: Callable[[str], None],
) -> tuple[dict[Key, Record], int]:
    """Runs every group `rounds` times, rotating the order within a group."""
    samples: dict[Key, list[Record]] = {}
    failures = 0
    for r in range(rounds):
        for group in groups:
            shift = r % len(group)
            for job in list(group[shift:]) + list(group[:shift]):
                progress(
                    f"round {r + 1}/{rounds}: {job.case} {job.mechanism} "
                    f"payload={job.payload} inflight={job.inflight}"
                )
                rec = run_job(job, build, extra_cse)
                if rec is None:
                    failures += 1
                    continue
                if rec.get("backup"):
                    print(
                        f"bench: warning: {rec['backup']} commands of "
                        f"{job.mechanism} {job.case} took the backup path",
                        file=sys.stderr,
                    )
                samples.setdefault(job.key, []).append(rec)
    return {k: median_record(v) for k, v in samples.items()}, failures


# ---- presentation -----------------------------------------------------------


US = 1e3
MS = 1e6
KILO = 1e3
MEGA = 1e6


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    if ns < 10 * US:
        return f"{ns:.0f} ns"
    if ns < 10 * MS:
        return f"{ns / US:.1f} us"
    return f"{ns / MS:.2f} ms"


def fmt_ops(ops: float | None) -> str:
    if ops is None:
        return "-"
    if ops >= MEGA:
        return f"{ops / MEGA:.2f} M/s"
    if ops >= KILO:
        return f"{ops / KILO:.1f} k/s"
    return f"{ops:.0f} /s"


def fmt_payload(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


@dataclass
class Target:
    name: str
    required: str
    measured: str
    met: bool | None  # None: no data

    @property
    def status(self) -> str:
        return "n/a" if self.met is None else ("met" if self.met else "MISSED")


def target_rows(targets: Iterable[Target]) -> list[list[str]]:
    """Rows of a TARGET_HEAD table."""
    return [[t.name, t.required, t.measured, t.status] for t in targets]


def p50(results: dict[Key, Record], mech: str, payload: int) -> float | None:
    rec = results.get(("sync_rtt", mech, payload, 1))
    return None if rec is None else float(rec["p50_ns"])


def mean(results: dict[Key, Record], mech: str, payload: int) -> float | None:
    """The untimed loop's mean round trip, or None."""
    rec = results.get(("sync_rtt", mech, payload, 1))
    return None if rec is None or "mean_ns" not in rec else float(rec["mean_ns"])


def ratio_target(
    name: str, num: float | None, den: float | None, limit: float, at_least: bool
) -> Target:
    sign = ">=" if at_least else "<="
    if num is None or den is None or den <= 0:
        return Target(name, f"{sign} {limit:g}x", "-", None)
    x = num / den
    return Target(name, f"{sign} {limit:g}x", f"{x:.2f}x", x >= limit if at_least else x <= limit)


def targets(results: dict[Key, Record]) -> list[Target]:
    out = [
        ratio_target(
            "socketpair / cse_spin, sync 64 B p50",
            p50(results, "socketpair", 64),
            p50(results, "cse_spin", 64),
            TARGET_SOCKETPAIR_X,
            at_least=True,
        ),
        ratio_target(
            "cse_spin / busypoll_shm, sync 64 B p50",
            p50(results, "cse_spin", 64),
            p50(results, "busypoll_shm", 64),
            TARGET_BUSYPOLL_X,
            at_least=False,
        ),
    ]
    for payload, limit in TARGET_FLOOR_X.items():
        out.append(
            ratio_target(
                f"cse_spin / {FLOOR} floor, sync {fmt_payload(payload)} untimed mean",
                mean(results, "cse_spin", payload),
                mean(results, FLOOR, payload),
                limit,
                at_least=False,
            )
        )
    for payload in SYNC_PAYLOADS:
        out.append(
            ratio_target(
                f"cse_nospin / futex_shm, sync {fmt_payload(payload)} p50",
                p50(results, "cse_nospin", payload),
                p50(results, "futex_shm", payload),
                1.0,
                at_least=False,
            )
        )
    at32 = [r for m in CSE_MECHS[:1] + BATCH_MECHS
            if (r := results.get(("async_tput", m, ASYNC_PAYLOAD, BATCH_INFLIGHT)))]
    name32 = f"cse_spin async at {BATCH_INFLIGHT} in flight (best of one by one and batched)"
    if not at32:
        out.append(Target(name32, ">= 12 M/s", "-", None))
    else:
        top = max(at32, key=lambda r: r["ops_per_s"])
        out.append(Target(name32, ">= 12 M/s", f"{fmt_ops(top['ops_per_s'])} ({top['mechanism']})",
                          top["ops_per_s"] >= TARGET_ASYNC_32_OPS))
    best: Record | None = None
    for n in ASYNC_INFLIGHT:
        rec = results.get(("async_tput", "cse_spin", ASYNC_PAYLOAD, n))
        if rec is not None and (best is None or rec["ops_per_s"] > best["ops_per_s"]):
            best = rec
    if best is None:
        out.append(Target("cse_spin async throughput", ">= 2 M/s", "-", None))
    else:
        out.append(
            Target(
                "cse_spin async throughput (best inflight)",
                ">= 2 M/s",
                f"{fmt_ops(best['ops_per_s'])} at {best['inflight']} in flight",
                best["ops_per_s"] >= TARGET_ASYNC_OPS,
            )
        )
    return out


def sync_rows(results: dict[Key, Record]) -> list[list[str]]:
    rows: list[list[str]] = []
    for payload in SYNC_PAYLOADS:
        ref = p50(results, "cse_spin", payload)
        floor = mean(results, FLOOR, payload)
        for mech in SYNC_MECHS:
            rec = results.get(("sync_rtt", mech, payload, 1))
            if rec is None:
                continue
            ratio = f"{rec['p50_ns'] / ref:.3g}x" if ref else "-"
            m = rec.get("mean_ns")
            rows.append(
                [
                    fmt_payload(payload),
                    mech,
                    fmt_ns(rec["p50_ns"]),
                    fmt_ns(rec["p99_ns"]),
                    fmt_ns(rec["clock_ns"]) if "clock_ns" in rec else "-",
                    fmt_ns(m),
                    f"{m / floor:.2f}x" if m and floor else "-",
                    ratio,
                ]
            )
    return rows


def async_rows(results: dict[Key, Record]) -> list[list[str]]:
    rows: list[list[str]] = []
    for n in ASYNC_INFLIGHT:
        for mech in CSE_MECHS + BATCH_MECHS:
            rec = results.get(("async_tput", mech, ASYNC_PAYLOAD, n))
            if rec is None:
                continue
            rows.append(
                [
                    str(n),
                    mech,
                    fmt_ops(rec["ops_per_s"]),
                    fmt_ns(rec["p50_ns"]),
                    fmt_ns(rec["p99_ns"]),
                    f"{rec['ops_per_s'] / TARGET_ASYNC_OPS:.2f}",
                ]
            )
    return rows


SYNC_HEAD = ["payload", "mechanism", "p50", "p99", "clock in each sample", "untimed mean",
             f"mean / {FLOOR}", "p50 / cse_spin"]
ASYNC_HEAD = ["inflight", "mechanism", "ops", "p50 (issue->done)", "p99", "ops / 2M"]
TARGET_HEAD = ["target", "required", "measured", "status"]
LABEL_COLUMNS = 2  # left-aligned leading columns


def print_plain(title: str, head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def print_tables(results: dict[Key, Record], tgts: list[Target], rounds: int) -> None:
    sections = [
        (f"Sync round trip (median of {rounds} rounds): p50/p99 per sample (each "
         "includes about one clock_gettime, its measured cost beside them); the mean "
         "of an untimed loop, and its ratio to the busy-poll floor",
         SYNC_HEAD, sync_rows(results)),
        (
            f"Async throughput, {ASYNC_PAYLOAD} B commands (median of {rounds} rounds)",
            ASYNC_HEAD,
            async_rows(results),
        ),
        (
            "Targets",
            TARGET_HEAD,
            target_rows(tgts),
        ),
    ]
    print_sections(sections, width=150)


def print_sections(sections: Sequence[tuple[str, list[str], list[list[str]]]],
                   width: int | None = None) -> None:
    """Print (title, head, rows) tables, with rich when it is installed;
    a last column of met / MISSED / n/a is coloured.  @width: the console's
    (rich's default is the terminal's, or 80 when not a terminal)."""
    if Console is None or Table is None:
        for title, head, rows in sections:
            if rows:
                print_plain(title, head, rows)
        return
    console = Console(width=width) if width else Console()
    styles = {"met": "green", "MISSED": "bold red", "n/a": "yellow"}
    for title, head, rows in sections:
        if not rows:
            continue
        table = Table(title=title)
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i < LABEL_COLUMNS else "right")
        for row in rows:
            style = styles.get(row[-1]) if head == TARGET_HEAD else None
            table.add_row(*row, style=style)
        console.print(table)


# ---- main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=Path("build"), help="Meson build dir")
    ap.add_argument("--out", type=Path, default=Path("report/bench.json"))
    ap.add_argument("--rounds", type=int, default=None, help="default 3, --quick 1")
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke run)")
    ap.add_argument(
        "--mechanisms",
        default=",".join(SYNC_MECHS),
        help="comma-separated subset of: " + ",".join(SYNC_MECHS),
    )
    ap.add_argument("--backend-name", default=None, help="label passed to bench-cse")
    ap.add_argument("--vm", action="store_true",
                    help="also run the user-to-kernel part in a VM (bench/vm_part.py)")
    ap.add_argument("--python", action="store_true",
                    help="also run the Python part: the binding against Python IPC "
                         "(bench/python_part.py)")
    ap.add_argument("--no-conns", action="store_true",
                    help="skip the connections part: one server, 1 to 1,000 clients "
                         "(bench/conns_part.py)")
    ap.add_argument(
        "--cse-async-mode",
        choices=("main", "callback"),
        default="callback",
        help="who re-issues async commands in bench-cse (see cse_bench.c)",
    )
    return ap.parse_args(argv)


def print_table(title: str, head: list[str], rows: list[list[str]]) -> None:
    if Table is None or Console is None:
        print_plain(title, head, rows)
        return
    table = Table(title=title)
    for h in head:
        table.add_column(h)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def vm_part(args: argparse.Namespace, records: list[Any]) -> int:
    """Run the VM part, print its ratios, add its records; return failures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from vm_part import (
        backup_call_vs_msg,
        batch_rows,
        ku_vs_uk,
        kvstore_rows,
        kvstore_uk_vs_uu,
        ratio_rows,
        run_vm_part,
        uk_targets,
    )

    print("bench: VM part (boots a kernel under QEMU; minutes under TCG)",
          file=sys.stderr, flush=True)
    uk, log = run_vm_part(args.build, 500 if args.quick else 20000)
    print_table("User <-> kernel sync round trip, 64 B (in one VM; ratios are the result)",
                ["mechanism", "p50 ns (TCG)", "p50 / bare ioctl", "p50 / io_uring NOP"],
                ratio_rows(uk))
    print_sections([("User <-> kernel targets (TCG figures, judged on p50 in one VM)",
                     TARGET_HEAD, target_rows(ratio_target(*u) for u in uk_targets(uk)))],
                   width=120)
    print_table("User -> kernel throughput, 32 commands in flight per round "
                "(in one VM; ratios are the result)",
                ["mechanism", "what", "ops/s (TCG)", "round p50 ns", "/ io_uring NOP batch"],
                batch_rows(uk))
    print(ku_vs_uk(uk))
    print(backup_call_vs_msg(uk))
    print_table("kvstore get of a 64 B value, one client binary, user server vs kvstore.ko "
                "(in the same VM, alternating rounds)",
                ["mechanism", "ops/s (TCG)", "p50 ns", "p99 ns", "p50 / kvstore_uu"],
                kvstore_rows(uk))
    print(kvstore_uk_vs_uu(uk))
    records.extend(uk)
    if not uk:
        print(f"bench: the VM part produced no records; console: {log}", file=sys.stderr)
        return 1
    return 0


def conns_part(args: argparse.Namespace, rounds: int, progress: Callable[[str], None],
               records: list[Any]) -> int:
    """One server, 1 to 1,000 connections (bench/conns_part.py); return failures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import conns_part as cp

    recs, failures = cp.run(args.build, args.quick, rounds, progress)
    print_sections([
        (f"One server, N connections, sync {ASYNC_PAYLOAD} B back to back on each "
         f"(median of {rounds} rounds)", cp.HEAD, cp.rows(recs, sys.modules[__name__])),
        ("Targets (connections)", TARGET_HEAD,
         target_rows(cp.targets(recs, Target))),
    ], width=150)
    records.extend(recs)
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mechanisms = [m for m in args.mechanisms.split(",") if m]
    unknown = sorted(set(mechanisms) - set(SYNC_MECHS))
    if unknown:
        print(f"bench: unknown mechanisms: {', '.join(unknown)}", file=sys.stderr)
        return 2
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds < 1:
        print("bench: --rounds must be >= 1", file=sys.stderr)
        return 2

    needed = set()
    if any(m in BASELINES for m in mechanisms):
        needed.add("bench-baselines")
    if any(m in CSE_MECHS for m in mechanisms):
        needed.add("bench-cse")
    missing = [n for n in sorted(needed) if not (args.build / "bench" / n).is_file()]
    if missing:
        print(
            f"bench: missing {', '.join(missing)} in {args.build / 'bench'} "
            "(meson setup build && ninja -C build)",
            file=sys.stderr,
        )
        return 2

    extra_cse = ["--async-mode", args.cse_async_mode]
    if args.backend_name:
        extra_cse += ["--backend-name", args.backend_name]

    def progress(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    groups = plan(args.quick, mechanisms, args.cse_async_mode == "callback")
    results, failures = collect(groups, rounds, args.build, extra_cse, progress)

    order = [("sync_rtt", m, p, 1) for p in SYNC_PAYLOADS for m in SYNC_MECHS] + [
        ("async_tput", m, ASYNC_PAYLOAD, n) for n in ASYNC_INFLIGHT for m in CSE_MECHS + BATCH_MECHS
    ]
    records = [results[k] for k in order if k in results]
    if mechanisms:
        print_tables(results, tgts=targets(results), rounds=rounds)
    if not args.no_conns:
        failures += conns_part(args, rounds, progress, records)
    if args.python:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import python_part

        py_records, py_failures = python_part.run(args.build, args.quick, rounds, progress,
                                                  fmt=sys.modules[__name__])
        records += py_records
        failures += py_failures
    if args.vm:
        failures += vm_part(args, records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=2) + "\n")
    print(f"\nwrote {args.out} ({len(records)} records)")
    if failures:
        print(f"bench: {failures} benchmark run(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
