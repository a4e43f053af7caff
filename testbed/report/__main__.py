"""python -m testbed.report [merge DIR...] ...: `cse report` without the cse
entry point (see testbed/report/cli.py for the arguments and exit status)."""

import sys

from testbed.report.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
