"""How `cse compare` shows a Comparison: tables on a terminal (or a CI log),
or markdown for $GITHUB_STEP_SUMMARY and merge-request comments.  Both show
the same sections in the same order, worst first."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from testbed.compare import Change, Comparison
from testbed.report.model import fmt_duration, one_line
from testbed.runview import styled

#: change sections: (title, what the Comparison holds, shown when empty)
_SECTIONS: tuple[tuple[str, str, bool], ...] = (
    ("New failures", "new_failures", True),
    ("Fixed", "fixed", True),
    ("Still failing", "still_failing", False),
    ("Flaky (failed, then passed on a retry)", "flaky", False),
    ("Newly known (a known issue matches)", "newly_known", False),
    ("New tests", "new_tests", False),
    ("Removed tests", "removed_tests", False),
)
#: lines of a long section shown before "... and N more"
LIMIT = 50


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 or what.endswith("s") else "s")


def headline(c: Comparison, strict: bool = False) -> str:
    """One line: the counts and the verdict."""
    counts = ", ".join([_count(len(c.new_failures), "new failure"), f"{len(c.fixed)} fixed",
                        f"{len(c.still_failing)} still failing", f"{len(c.flaky)} flaky",
                        _count(len(c.new_cells), "new cell"),
                        _count(len(c.removed_cells), "removed cell"),
                        _count(len(c.slower), "slower suite")])
    verdict = "REGRESSION" if c.gate_fails(strict) else "no new failure"
    return f"{counts}: {verdict}"


def _was(status: str | None) -> str:
    return status if status is not None else "(new)"


def _now(status: str | None) -> str:
    return status if status is not None else "(gone)"


# --- terminal ------------------------------------------------------------------

def _table(title: str, changes: list[Change]) -> Table:
    t = Table(title=f"{title} ({len(changes)})", title_justify="left", show_edge=False,
              box=None, pad_edge=False)
    for name in ("cell", "test", "before", "now", "reason"):
        t.add_column(name, no_wrap=name != "reason", overflow="fold")
    for ch in changes[:LIMIT]:
        note = f" [dim]({escape(ch.excused)})[/]" if ch.excused else ""
        t.add_row(ch.cell, escape(ch.path), styled(_was(ch.before)),
                  styled(_now(ch.after)) + note, escape(one_line(ch.reason, 160)))
    if len(changes) > LIMIT:
        t.add_row("", f"... and {len(changes) - LIMIT} more", "", "", "")
    return t


def terminal(c: Comparison, strict: bool = False) -> RenderableType:
    """The comparison as rich renderables, for cliout.console()."""
    parts: list[RenderableType] = [
        Text(f"base: {c.base.label}" + (f" (generated {c.base.generated})"
                                        if c.base.generated else "")),
        Text(f"new:  {c.new.label}" + (f" (generated {c.new.generated})"
                                       if c.new.generated else "")), Text("")]
    for title, attr, always in _SECTIONS:
        changes: list[Change] = getattr(c, attr)
        if changes or always:
            parts += [_table(title, changes), Text("")]
    for title, cells in (("New cells", c.new_cells), ("Removed cells", c.removed_cells)):
        if cells:
            parts += [Text(f"{title} ({len(cells)}): {', '.join(cells)}"), Text("")]
    if c.slower:
        t = Table(title=f"Slower suites ({len(c.slower)})", title_justify="left",
                  show_edge=False, box=None, pad_edge=False)
        for name in ("cell", "suite", "before", "now", "growth"):
            t.add_column(name, no_wrap=True)
        for s in c.slower:
            t.add_row(s.cell, s.suite, fmt_duration(s.before_s), fmt_duration(s.after_s),
                      f"+{(s.after_s / s.before_s - 1) * 100:.0f}%")
        parts += [t, Text("")]
    style = "bold red" if c.gate_fails(strict) else "bold green"
    parts.append(Text(headline(c, strict), style=style))
    return Group(*parts)


def print_terminal(c: Comparison, console: Console, strict: bool = False) -> None:
    console.print(terminal(c, strict), highlight=False)


# --- markdown -------------------------------------------------------------------

def _esc(text: str, limit: int = 200) -> str:
    return one_line(text, limit).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_table(title: str, changes: list[Change], row: Callable[[Change], str]) -> list[str]:
    out = ["", f"### {title} ({len(changes)})", ""]
    if not changes:
        return [*out, "none"]
    out += ["| cell | test | before | now | reason |", "|---|---|---|---|---|"]
    out += [row(ch) for ch in changes[:LIMIT]]
    if len(changes) > LIMIT:
        out.append(f"| … and {len(changes) - LIMIT} more | | | | |")
    return out


def _md_row(ch: Change) -> str:
    note = f" ({ch.excused})" if ch.excused else ""
    return (f"| `{_esc(ch.cell)}` | `{_esc(ch.path)}` | {_was(ch.before)} | "
            f"{_now(ch.after)}{note} | {_esc(ch.reason)} |")


def markdown(c: Comparison, strict: bool = False) -> str:
    """The comparison as GitHub-flavoured markdown."""
    icon = "❌" if c.gate_fails(strict) else "✅"
    out = ["## cse compare", "", f"{icon} **{headline(c, strict)}**", "",
           f"base: `{_esc(c.base.label)}`" + (f" (generated {c.base.generated})"
                                              if c.base.generated else "") + "  ",
           f"new: `{_esc(c.new.label)}`" + (f" (generated {c.new.generated})"
                                            if c.new.generated else "")]
    for title, attr, always in _SECTIONS:
        changes: list[Change] = getattr(c, attr)
        if changes or always:
            out += _md_table(title, changes, _md_row)
    for title, cells in (("New cells", c.new_cells), ("Removed cells", c.removed_cells)):
        if cells:
            out += ["", f"### {title} ({len(cells)})", "",
                    ", ".join(f"`{_esc(x)}`" for x in cells)]
    if c.slower:
        out += ["", f"### Slower suites ({len(c.slower)})", "",
                "| cell | suite | before | now | growth |", "|---|---|---|---|---|"]
        out += [f"| `{_esc(s.cell)}` | {s.suite} | {fmt_duration(s.before_s)} | "
                f"{fmt_duration(s.after_s)} | +{(s.after_s / s.before_s - 1) * 100:.0f}% |"
                for s in c.slower]
    return "\n".join(out) + "\n"
