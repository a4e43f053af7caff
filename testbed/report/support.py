"""support.md: the support table, one row per cell of the matrix with what it
covers (arch, OS and C library, compiler, backend, kernel, suites) and its
last status, for the README's "Where CSE runs" section.

`cse report --update-readme README.md` puts the table between the README's
markers, so the README shows the last run as it was, not as it was typed.
"""

from __future__ import annotations

from pathlib import Path

from testbed.report.model import Row

BEGIN = "<!-- support-table:begin (cse report --update-readme README.md) -->"
END = "<!-- support-table:end -->"
_COLUMNS = ("cell", "arch", "os / libc", "compiler", "backend", "kernel", "suites",
            "last status")


def _kernel(row: Row) -> str:
    r, c = row.result, row.matrix_cell
    release = r.info.get("kernel_release", "") if r else ""
    if release:
        return release
    if c is not None and c.kernel != "host":  # a cell that boots a kernel of its own
        return f"{c.image} {c.kernel}"
    return "host" if c is None or c.os == "linux" else "—"


def render_support(rows: list[Row]) -> str:
    """The table, as GitHub-flavoured markdown (rows of matrix cells only)."""
    out = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for row in rows:
        c = row.matrix_cell
        if c is None:
            continue
        status = row.shown_status
        if row.result and row.result.status == "SKIP" and row.result.reason:
            status += f": {row.result.reason.split(':')[0]}"
        cells = [f"`{c.id}`", c.arch, f"{c.os} / {c.libc}", c.compiler, c.backend,
                 _kernel(row), " ".join(c.suites), status]
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(out) + "\n"


class ReadmeError(ValueError):
    """The README has no (or broken) support-table markers."""


def update_readme(readme: Path, table: str) -> bool:
    """Replace what is between the markers in @readme with @table; True if
    the file changed."""
    text = readme.read_text()
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        raise ReadmeError(f"{readme}: no support table markers: put {BEGIN!r} and {END!r} "
                          f"on lines of their own where the table goes")
    new = text[:b + len(BEGIN)] + "\n" + table + text[e:]
    if new == text:
        return False
    readme.write_text(new)
    return True
