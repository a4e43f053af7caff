"""python -m testbed build [FLAVOUR...]   (the testbed command itself is `cse`)"""

from __future__ import annotations

import sys

from testbed import builds


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        return builds.main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
