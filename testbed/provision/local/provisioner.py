"""The `local` provisioner: this host, as it is.

Scripts run with /bin/sh in the checkout, as the invoking user, in a session
of their own: at the timeout the whole session is killed, including suites
that `timeout` moved into process groups of their own.  The output is
streamed to <logdir>/cell.log as it comes, so a hung run keeps what it
printed and the runner can show which suite is running.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import ClassVar

from testbed.builds import ROOT, Flavour
from testbed.provision.base import LIVE_LOG, CommandResult, Provisioner, copy_on_host, run_streamed
from testbed.provision.local import PLUGIN


class LocalProvisioner(Provisioner):
    """This host: nothing to set up, the build on the host is used in place.

    Any target the host can build is a local cell: programs for this machine
    run as they are, another Linux architecture's under qemu-user, and
    another OS's (FreeBSD) not at all: such a cell is build-only.
    """

    name: ClassVar[str] = "local"
    capabilities = PLUGIN.capabilities
    shares_host_fs: ClassVar[bool] = True

    def cannot_run(self, flavour: Flavour) -> str | None:
        return flavour.runner().cannot

    def program_prefix(self, flavour: Flavour) -> tuple[list[str], dict[str, str]]:
        run = flavour.runner()
        return list(run.argv), dict(flavour.env) | dict(run.env)

    def start(self) -> None:
        """Nothing to start: the host is up."""

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        with tempfile.TemporaryDirectory(prefix="cse-local-") as tmp:
            path = Path(tmp) / "cell.sh"
            path.write_text(script)
            res = run_streamed(["/bin/sh", str(path)], self.logdir / LIVE_LOG, timeout_s,
                               cwd=ROOT)
        self.logs["output"] = self.logdir / LIVE_LOG
        return res

    def put(self, src: Path, dest: str) -> None:
        copy_on_host(src, Path(dest))

    def get(self, src: str, dest: Path) -> None:
        copy_on_host(Path(src), dest)

    def stop(self, *, keep: bool = False) -> None:
        """Nothing to tear down; with @keep, the build stays where it is anyway."""

    def shell_argv(self) -> list[str]:
        return [os.environ.get("SHELL") or "/bin/sh", "-i"]
