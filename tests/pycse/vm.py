"""The Python binding in tests/test_kernel.py's VM (the guest shares this
host's root, so the .venv's Python and the installed binding run there):

  uk-python  the Python conformance scenarios (ktap_run.py) against the
             kernel's servers, through /dev/cse;
  ku-python  cse_conformance.ko as the kernel client of two Python
             conformance servers (conf_server.py), server_death included
             (the module starts and SIGKILLs one through the usermode
             helper); its KTAP is in the kernel log.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from testbed.kernel_suites import KERNEL_SERVERS, reload_conformance_with

from . import CONF_SERVER, KTAP_RUN, helper_script
from .scenarios import SCENARIOS

#: the user (Python) servers of ku-python
KU_SERVERS = ("upyconf-inline", "upyconf-worker")
#: runs whose KTAP the kernel prints
KTAP_IN_KERNEL_LOG = frozenset({"ku-python"})


def runs(moddir: Path) -> dict[str, str]:
    """run name -> guest command."""
    py = shlex.quote(sys.executable)
    inline, worker = KU_SERVERS
    ready = tuple(f"/tmp/cse-py-ready-{sid}" for sid in KU_SERVERS)
    servers = [f"rm -f {ready[0]}; {py} {shlex.quote(str(CONF_SERVER))} server {inline} "
               f"--ready {ready[0]}",
               f"rm -f {ready[1]}; {py} {shlex.quote(str(CONF_SERVER))} server {worker} "
               f"--worker --ready {ready[1]}"]
    return {
        "uk-python": f"{py} {shlex.quote(str(KTAP_RUN))} --kernel --servers "
                     + " ".join(KERNEL_SERVERS),
        "ku-python": reload_conformance_with(
            moddir, [f"sh -c {shlex.quote(s)}" for s in servers],
            f"ku_inline={inline} ku_worker={worker} "
            f"helper={shlex.quote(str(helper_script()))}", ready),
    }


def cases(run: str, kernel_scenarios: list[str]) -> list[str]:
    """The KTAP case names of @run (ku-python runs the module's scenarios)."""
    return list(SCENARIOS) if run == "uk-python" else kernel_scenarios
