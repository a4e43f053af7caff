#!/usr/bin/env python3
"""The Python conformance scenarios (scenarios.py) as a KTAP program, for
where pytest does not run them itself: in a VM against the kernel's
servers (tests/test_kernel.py's uk-python run).

  ktap_run.py --list
  ktap_run.py --servers INLINE_ID WORKER_ID [--kernel] [SCENARIO...]

--kernel: the servers are in the kernel (synchronous backup commands are
one call; no server can be killed).  Each scenario runs in its own process
with a timeout, so a hang or crash costs that scenario only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cse  # noqa: E402
from pycse.scenarios import SCENARIOS, Skip, World  # noqa: E402

TIMEOUT_S = 300


def world(args: argparse.Namespace) -> World:
    return World(args.servers[0], args.servers[1],
                 sync_backup=cse.BACKUP_CALL if args.kernel else cse.BACKUP_MSG,
                 log=lambda m: print(f"# {m}", flush=True))


def run_one(args: argparse.Namespace) -> int:
    """In the child: 0 pass, 1 fail, 4 skip (KTAP's codes, like ktap.h)."""
    try:
        SCENARIOS[args.one](world(args))
    except Skip as e:
        print(f"# SKIP {e}", flush=True)
        return 4
    except AssertionError as e:
        print(f"# {args.one}: {e}", flush=True)
        return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--servers", nargs=2, metavar=("INLINE_ID", "WORKER_ID"))
    ap.add_argument("--kernel", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if args.list:
        print("\n".join(SCENARIOS))
        return 0
    if not args.servers:
        ap.error("--servers is required")
    if args.one:
        return run_one(args)
    names = args.names or list(SCENARIOS)
    print("KTAP version 1\n# cse Python binding: conformance scenarios")
    print(f"1..{len(names)}", flush=True)
    for i, name in enumerate(names, 1):
        argv = [sys.executable, __file__, "--servers", *args.servers, "--one", name]
        if args.kernel:
            argv.append("--kernel")
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = f"{e.stdout or ''}# timed out after {TIMEOUT_S} s\n", 1
        skip = ""
        for line in out.splitlines():
            if line.startswith("# SKIP "):
                skip = line[len("# SKIP "):]
            elif line.strip():
                print(line if line.startswith("#") else f"# {line}")
        if rc == 4:
            print(f"ok {i} {name} # SKIP {skip}", flush=True)
        else:
            print(f"{'ok' if rc == 0 else 'not ok'} {i} {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
