"""`make run` for now: the U-U conformance suite on every user-space backend,
printed as one table of scenario x backend."""

from __future__ import annotations

import json
import sys
import time

from rich.console import Console
from rich.table import Table

from testbed.builds import BACKENDS, FLAVOURS, ROOT, BuildError, build
from testbed.suites import SuiteRun, run_suite

_STYLE = {"pass": "bold green", "fail": "bold red", "skip": "yellow", "missing": "bold red"}


def _cell(status: str, reason: str) -> str:
    text = status.upper() + (f" ({reason})" if reason and status != "pass" else "")
    return f"[{_STYLE[status]}]{text}[/]"


def main() -> int:
    console = Console()
    runs: dict[str, SuiteRun] = {}
    durations: dict[str, float] = {}
    for name in BACKENDS:
        flavour = FLAVOURS[name]
        with console.status(f"building and running U-U conformance on [bold]{name}[/]"):
            try:
                build(flavour)
            except BuildError as e:
                console.print(f"[bold red]build failed for {name}[/]\n{e}")
                return 1
            t0 = time.monotonic()
            runs[name] = run_suite(flavour, "conformance")
            durations[name] = time.monotonic() - t0
        console.print(f"{name}: {len(runs[name].run.cases)} scenarios in {durations[name]:.1f} s")

    names: list[str] = []
    for r in runs.values():
        names += [c.name for c in r.run.cases if c.name not in names]
    table = Table(title="CSE U-U conformance")
    table.add_column("scenario")
    for name in BACKENDS:
        table.add_column(name)
    failed = False
    for scen in names:
        row = [scen]
        for name in BACKENDS:
            case = runs[name].run.by_name().get(scen)
            status, reason = (case.status, case.reason) if case else ("missing", "")
            failed |= status in ("fail", "missing")
            row.append(_cell(status, reason))
        table.add_row(*row)
    console.print(table)

    for name, r in runs.items():
        if r.returncode is None or not r.run.complete:
            failed = True
            console.print(f"[bold red]{name}: the suite did not finish[/] (exit {r.returncode})")
            console.print(r.stderr[-3000:])

    report = ROOT / "report"
    report.mkdir(exist_ok=True)
    (report / "conformance-uu.json").write_text(json.dumps({
        name: {
            "exit": r.returncode,
            "seconds": round(durations[name], 2),
            "cases": [{"name": c.name, "status": c.status, "reason": c.reason}
                      for c in r.run.cases],
        }
        for name, r in runs.items()
    }, indent=2) + "\n")
    console.print("results: report/conformance-uu.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
