"""The provisioner interface: one place (host, container, VM, remote machine)
where the runner stages the source, runs shell scripts and collects logs.

Like pytest-testinfra's backends: one small module per provisioner on this
tiny base class.  The lifecycle, driven by testbed.runner:

    p = provisioner_for(cell, logdir)
    if (why := p.unavailable()) is not None: -> the cell is SKIP, why
    p.prepare()     images, kernels, builds the cell needs (cached; may be slow)
    p.start()       the container / connection; a VM may boot per run()
    p.put(...)      / p.run(script, timeout_s=...) / p.get(...)
    p.stop(keep=...)

Anything that fails *around* the code under test (no daemon, image build,
boot timeout, ssh exit 255, a lost connection) raises ProvisionError: the
runner reports it as ERROR with its culprit, never as a test FAIL.
"""

from __future__ import annotations

import abc
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from testbed.matrix import Cell
from testbed.results import Culprit

if TYPE_CHECKING:
    from testbed.builds import Flavour

class ProvisionError(RuntimeError):
    """The cell could not be set up, reached or torn down (ERROR, not FAIL)."""

    def __init__(self, message: str, *, culprit: Culprit = "tool",
                 log: Path | None = None) -> None:
        super().__init__(message)
        self.culprit: Culprit = culprit
        self.log = log


@dataclass
class CommandResult:
    """One script run in a cell.

    returncode is the script's exit status, or None when it never finished
    (killed at its timeout, connection lost, VM died); error then says why.
    output is stdout and stderr interleaved, as the cell printed them.
    """

    returncode: int | None
    output: str
    duration_s: float
    timed_out: bool = False
    error: str = ""


#: timeout(1)'s exit status when it killed the command: 124 with its default
#: TERM, 128 + 9 with -s KILL (GNU, BSD and busybox alike)
TIMEOUT_EXITS = (124, 137)


def kill_at(timeout_s: float, *, whole_seconds: bool = False, grace_s: int = 0) -> str:
    """`timeout -s KILL LIMIT`, to put in front of a cell's script: KILL ends
    the script's whole process group (timeout(1) leads one), whatever it
    traps.  LIMIT is a plain decimal (never "1e+06"; never 0, which would
    mean no timeout); @whole_seconds for remote hosts whose timeout(1) may
    not take fractions, @grace_s added when the host keeps the real clock
    and the remote kill only cleans up."""
    if whole_seconds:
        limit = f"{math.ceil(timeout_s) + grace_s}"
    else:
        limit = f"{max(timeout_s, 0.001) + grace_s:.3f}"
    return f"timeout -s KILL {limit}"


def script_result(code: int, output: str, duration_s: float, timeout_s: float,
                  error: str = "") -> CommandResult:
    """The result of a script run under kill_at(@timeout_s) that exited with
    @code: killed by the timeout when the status says so and its time was
    up (a script may exit 124 or 137 on its own, sooner)."""
    if code in TIMEOUT_EXITS and duration_s >= timeout_s:
        return CommandResult(None, output, duration_s, timed_out=True,
                             error=error or f"killed at its {timeout_s:g} s timeout")
    return CommandResult(code, output, duration_s, error=error)


def copy_on_host(src: Path, dest: Path) -> None:
    """put()/get() for cells that share this host's files (local, qemu): a
    copy of the file or directory @src to @dest, parents created."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


class Provisioner(abc.ABC):
    """One cell's place to run things.  Subclasses set `name` to the matrix's
    provisioner value and implement the abstract methods."""

    name: ClassVar[str]
    #: The cell sees this host's files at the same paths (local; qemu through
    #: virtme-ng's shared root): the runner builds on the host and stages nothing.
    shares_host_fs: ClassVar[bool] = False

    def __init__(self, cell: Cell, logdir: Path) -> None:
        self.cell = cell
        self.logdir = logdir
        self.logdir.mkdir(parents=True, exist_ok=True)
        #: log name -> saved file (console, dmesg, image build, ...), for reports
        self.logs: dict[str, Path] = {}

    def cannot_run(self, flavour: Flavour) -> str | None:
        """Why this cell can build @flavour but not run its programs (the
        cell is then build-only: its other suites SKIP with this), or None."""
        return None

    def program_prefix(self, flavour: Flavour) -> tuple[list[str], dict[str, str]]:
        """What goes in front of a program of @flavour run in this cell (an
        emulator), and the environment it runs with."""
        return [], dict(flavour.env)

    def unavailable(self) -> str | None:
        """Why this cell cannot run on this machine (reported SKIP), or None.
        Must be cheap and must not change the machine."""
        return None

    def prepare(self) -> None:  # noqa: B027 - optional hook, nothing by default
        """Fetch or build what the cell needs (images, kernels); cached."""

    @abc.abstractmethod
    def start(self) -> None:
        """Bring the cell up (container, connection)."""

    @abc.abstractmethod
    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        """Run @script with POSIX sh in the cell, as root, killed at @timeout_s."""

    @abc.abstractmethod
    def put(self, src: Path, dest: str) -> None:
        """Copy the host file or directory @src to @dest in the cell."""

    @abc.abstractmethod
    def get(self, src: str, dest: Path) -> None:
        """Copy the cell's file @src to @dest on the host."""

    @abc.abstractmethod
    def stop(self, *, keep: bool = False) -> None:
        """Tear the cell down; @keep leaves it up for `cse shell` and says how
        to reach it.  Safe to call twice and after a failed start()."""

    @abc.abstractmethod
    def shell_argv(self) -> list[str]:
        """The host command that opens an interactive shell in the cell."""

    def __enter__(self) -> Provisioner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
