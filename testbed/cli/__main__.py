"""python -m testbed.cli ...: the `cse` command without its entry point."""

import sys

from testbed.cli import main

sys.exit(main())
