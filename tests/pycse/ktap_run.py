#!/usr/bin/env python3
"""The Python conformance scenarios (scenarios.py) as a KTAP program, for
where pytest does not run them itself: in a VM against the kernel's
servers (tests/test_kernel.py's uk-python run).

  ktap_run.py --list
  ktap_run.py --servers INLINE_ID WORKER_ID [--kernel] [SCENARIO...]

--kernel: the servers are in the kernel (synchronous backup commands are
one call; no server can be killed).  The scenarios run one after another in
this one process: under TCG, over the VM's shared root, each Python start
costs seconds.  A scenario that hangs past its timeout ends the run; the
scenarios after it are reported as not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cse  # noqa: E402
from pycse.scenarios import SCENARIOS, Skip, World  # noqa: E402

TIMEOUT_S = 600


def run(name: str, world: World) -> tuple[str, str]:
    """('pass'|'fail'|'skip'|'hang', why), running @name on a thread with a timeout."""
    outcome: list[tuple[str, str]] = []

    def body() -> None:
        try:
            SCENARIOS[name](world)
            outcome.append(("pass", ""))
        except Skip as e:
            outcome.append(("skip", str(e)))
        except AssertionError as e:
            outcome.append(("fail", str(e) or "assertion failed"))
        except Exception as e:  # noqa: BLE001 -- any error fails the scenario
            outcome.append(("fail", repr(e)))

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    t.join(TIMEOUT_S)
    return outcome[0] if outcome else ("hang", f"no result after {TIMEOUT_S} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--servers", nargs=2, metavar=("INLINE_ID", "WORKER_ID"))
    ap.add_argument("--kernel", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if args.list:
        print("\n".join(SCENARIOS))
        return 0
    if not args.servers:
        ap.error("--servers is required")
    world = World(args.servers[0], args.servers[1],
                  sync_backup=cse.BACKUP_CALL if args.kernel else cse.BACKUP_MSG,
                  log=lambda m: print(f"# {m}", flush=True))
    names = args.names or list(SCENARIOS)
    print(f"KTAP version 1\n# cse Python binding: conformance scenarios\n1..{len(names)}",
          flush=True)
    for i, name in enumerate(names, 1):
        status, why = run(name, world)
        for line in why.splitlines():
            print(f"# {line}")
        if status == "skip":
            print(f"ok {i} {name} # SKIP {why}", flush=True)
            continue
        print(f"{'ok' if status == 'pass' else 'not ok'} {i} {name}", flush=True)
        if status == "hang":
            for j, rest in enumerate(names[i:], i + 1):
                print(f"not ok {j} {rest} # not run: {name} hung", flush=True)
            os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
