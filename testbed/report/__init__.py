"""The testbed's reports, rendered from each cell's saved result.

    report/cells/<cell>/result.json   written by the runner, logs beside it
    report/matrix.json                every cell's result (`cse list` reads it)
    report/junit/<cell>.xml           JUnit XML, one file per cell
    report/matrix.md                  markdown table for $GITHUB_STEP_SUMMARY
    report/matrix.html                self-contained page: cells x suites grid

write_all() renders them all; `cse report` re-renders from the saved results
and `cse report merge` joins the report dirs of many CI runners first (cli.py).
"""

from testbed.report.load import ReportError
from testbed.report.render import write_all

__all__ = ["ReportError", "write_all"]
