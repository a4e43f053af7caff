"""python -m testbed.report [merge DIR...] ...: `cse report` without the cse
entry point (testbed/cli/cmd_report.py has the arguments and exit status)."""

import sys

from testbed.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
