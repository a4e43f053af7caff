"""What each shared-memory touch of a synchronous command costs (issue 15,
item 3): build bench-cse from this tree with one touch taken out (or one
that was removed, put back) at a time,
and time the untimed mean round trip of each build side by side with the
busy-poll floor, rounds interleaved so noise hits every variant alike.

    .venv/bin/python bench/touches.py [--rounds N] [--payload 64]

Each variant is a temporary copy of the runtime with one edit (below): the
edits break the runtime's guarantees (a lost wake-up, two threads in one
slot list) and exist only here, to measure; a single client thread that
issues back to back to a spinning server never needs what they remove.
An edit whose text is no longer in the tree stops the run: it names the
file, so the list is kept in step with the code.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ITERS = 50_000


@dataclass(frozen=True)
class Edit:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    edits: tuple[Edit, ...] = ()


_CLIENT_BARRIER = Edit(
    "cse/src/client_exec.c",
    "\tcse_mb();\n\tret = cse_client_is_dead(c) ? -ECONNRESET : 0;",
    "\tret = cse_client_is_dead(c) ? -ECONNRESET : 0;")

_WAKE_BARRIER = Edit(
    "cse/src/fifo.c",
    "\tcse_mb();\n\ts = cse_load(&f->hdr->sleepers);",
    "\ts = cse_load(&f->hdr->sleepers);")

_SLOT_CACHE = (
    Edit("cse/src/client_exec.c",
         "\tif (!cse_load(&c->cached_slot))\n\t\treturn false;",
         "\treturn false;\n\tif (!cse_load(&c->cached_slot))\n\t\treturn false;"),
    Edit("cse/src/client_exec.c",
         "\tif (cse_load(&c->cached_slot) || cse_cmpxchg(&c->cached_slot, 0, idx + 1)) {",
         "\tif (1) {"),
)

_SLOT_LOCK = (
    *_SLOT_CACHE,
    Edit("cse/src/client_exec.c",
         "\t\tcse_os_mutex_lock(c->lock);\n\t\tif (c->nfree) {\n"
         "\t\t\t*idx = c->free_stack[--c->nfree];\n\t\t\tcse_os_mutex_unlock(c->lock);",
         "\t\tif (c->nfree) {\n\t\t\t*idx = c->free_stack[--c->nfree];"),
    Edit("cse/src/client_exec.c",
         "\t\tcse_os_mutex_lock(c->lock);\n\t\tc->free_stack[c->nfree++] = idx;\n"
         "\t\tcse_os_mutex_unlock(c->lock);",
         "\t\tc->free_stack[c->nfree++] = idx;"),
)

_SERVER_PREFETCH = Edit(
    "cse/src/server_conn.c",
    "\tcse_peer_acquire(h);\n",
    "\tcse_peer_acquire(h);\n\t__builtin_prefetch(h);\n\t__builtin_prefetch(h + 1);\n"
    "\t__builtin_prefetch((char *)(h + 1) + conn->g.slot_input_size, 1);\n")

_SERVER_PREFETCH_OUT = Edit(
    "cse/src/server_conn.c",
    "\tcse_peer_acquire(h);\n",
    "\tcse_peer_acquire(h);\n"
    "\t__builtin_prefetch((char *)(h + 1) + conn->g.slot_input_size, 1);\n")

_WAITERS_STORE = Edit(
    "cse/src/client_exec.c",
    "\th->waiters = 0;\n\tcse_store(&h->state, CSE_SLOT_SUBMITTED);",
    "\tcse_store(&h->state, CSE_SLOT_SUBMITTED);")

VARIANTS: tuple[Variant, ...] = (
    Variant("base", "nothing: the runtime as it is"),
    Variant("-client_barrier", "the client's full barrier before the push (pairs with death)",
            (_CLIENT_BARRIER,)),
    Variant("-wake_barrier", "the full barrier before the FIFO's sleepers check",
            (_WAKE_BARRIER,)),
    Variant("-both_barriers", "both full barriers", (_CLIENT_BARRIER, _WAKE_BARRIER)),
    Variant("-waiters_store", "the client's store to the header's waiters word",
            (_WAITERS_STORE,)),
    Variant("+slot_mutex", "(added) the slot list's mutex instead of the one-slot cache",
            _SLOT_CACHE),
    Variant("-slot_lock", "the slot cache's atomic and the slot list's mutex: no lock at all",
            _SLOT_LOCK),
    Variant("+prefetch", "(added) the server's prefetch of the slot's three lines, as before",
            (_SERVER_PREFETCH,)),
    Variant("+prefetch_out", "(added) the server's write prefetch of the output line alone",
            (_SERVER_PREFETCH_OUT,)),
)


def apply(tree: Path, edits: Sequence[Edit]) -> None:
    for e in edits:
        p = tree / e.path
        text = p.read_text()
        if text.count(e.old) != 1:
            raise SystemExit(f"touches: {e.path}: the text to edit is not there once; "
                             "update bench/touches.py")
        p.write_text(text.replace(e.old, e.new))


def build(variant: Variant, work: Path, meson: str) -> Path:
    tree = work / f"src{variant.name}"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        "build", ".venv", ".git", "__pycache__", "*.pyc"))
    apply(tree, variant.edits)
    bdir = work / f"build{variant.name}"
    subprocess.run([meson, "setup", str(bdir), str(tree), "-Dplatform=linux", "-Dbench=true",
                    "-Dtests=false"],
                   check=True, capture_output=True)
    subprocess.run(["ninja", "-C", str(bdir), "bench/bench-cse", "bench/bench-baselines"],
                   check=True, capture_output=True)
    return bdir


def mean_ns(argv: list[str]) -> float:
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    recs = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    return float(recs[-1]["mean_ns"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--iters", type=int, default=ITERS, help="round trips per run")
    args = ap.parse_args(argv)
    meson = shutil.which("meson", path=str(ROOT / ".venv" / "bin")) or shutil.which("meson")
    if not meson:
        print("touches: meson not found (make setup installs it in .venv)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="cse-touches-") as tmp:
        work = Path(tmp)
        builds = {}
        for v in VARIANTS:
            print(f"building {v.name} ...", file=sys.stderr)
            builds[v.name] = build(v, work, meson)
        floor: list[float] = []
        means: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
        base_bench = builds["base"] / "bench"
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
            floor.append(mean_ns([str(base_bench / "bench-baselines"), "busypoll_shm",
                                  str(args.payload), str(args.iters)]))
            for v in VARIANTS:
                means[v.name].append(mean_ns([
                    str(builds[v.name] / "bench" / "bench-cse"), "--case", "sync_rtt",
                    "--payload", str(args.payload), "--iters", str(args.iters)]))
    f = statistics.median(floor)
    base = statistics.median(means["base"])
    print(f"sync {args.payload} B, untimed mean round trip, median of {args.rounds} "
          f"interleaved rounds (floor: busypoll_shm {f:.1f} ns, spread "
          f"{min(floor):.0f}-{max(floor):.0f})")
    print(f"{'variant':<16} {'mean':>9} {'vs base':>9} {'/ floor':>8}  change")
    for v in VARIANTS:
        m = statistics.median(means[v.name])
        print(f"{v.name:<16} {m:7.1f}ns {m - base:+8.1f} {m / f:7.2f}x  {v.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
