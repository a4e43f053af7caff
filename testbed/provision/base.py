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

What every provisioner needs and none should write again lives here: the
`timeout -s KILL` wrapper of a script and the reading of its exit status
(kill_at, script_result), a local command streamed to a log under a timeout
(run_streamed: the local cell's sh, the VMs' QEMU), and copying files
(copy_on_host; pack/unpack for cells reached through a tar stream).
"""

from __future__ import annotations

import abc
import math
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar

from testbed.provision.registry import Capabilities
from testbed.results import Culprit

if TYPE_CHECKING:
    from testbed.builds import Flavour
    from testbed.kmake import Kernel
    from testbed.matrix import Cell

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
    #: it went quiet for longer than allowed and was killed (a VM that
    #: stopped answering), before its timeout
    stalled: bool = False


#: the script's output as it comes, in the cell's log dir (what a hung run
#: printed stays; the runner follows it to show the suite running)
LIVE_LOG = "cell.log"
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


def _session_pids(sid: int) -> list[int]:
    """Processes in session @sid (from /proc; [] where there is none)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def kill_session(pid: int) -> None:
    """SIGKILL every process in the session led by @pid (a start_new_session
    child), its own process groups included."""
    for _ in range(3):  # a process may fork while we look
        targets = _session_pids(pid) or [pid]
        for p in targets:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not _session_pids(pid):
            return
        time.sleep(0.1)


def run_streamed(argv: list[str], log: Path, timeout_s: float, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, append: bool = False,
                 silence_s: float | None = None) -> CommandResult:
    """Run @argv in a new session, its output (stdout+stderr) copied to @log
    as it comes (after what @log holds, with @append); kill the session at
    @timeout_s (returncode None, timed_out), or once it has printed nothing
    for @silence_s (returncode None, stalled: a VM whose console went quiet
    for longer than any suite may has stopped answering)."""
    chunks: list[bytes] = []
    last_output = [time.monotonic()]
    t0 = last_output[0]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True)
    except OSError as e:
        raise ProvisionError(f"cannot start {argv[0]}: {e}", culprit="tool") from e
    assert proc.stdout is not None
    pipe = proc.stdout.fileno()

    def copy() -> None:
        with log.open("ab" if append else "wb") as f:
            while chunk := os.read(pipe, 65536):
                chunks.append(chunk)
                last_output[0] = time.monotonic()
                f.write(chunk)
                f.flush()

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    timed_out = stalled = False
    try:
        while True:
            now = time.monotonic()
            left = t0 + timeout_s - now
            quiet = None if silence_s is None else last_output[0] + silence_s - now
            if left <= 0:
                timed_out = True
                break
            if quiet is not None and quiet <= 0:
                stalled = True
                break
            try:
                proc.wait(timeout=min(left, quiet if quiet is not None else left, 1.0))
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:  # Ctrl-C: leave nothing running behind us
        kill_session(proc.pid)
        proc.wait()
        raise
    kill_session(proc.pid)  # also whatever the script left in the background
    proc.wait()
    reader.join(timeout=10)
    proc.stdout.close()
    output = b"".join(chunks).decode(errors="replace")
    duration = time.monotonic() - t0
    if timed_out:
        return CommandResult(None, output, duration, True, f"killed after {timeout_s:.0f} s")
    if stalled:
        return CommandResult(None, output, duration, error=f"printed nothing for "
                             f"{silence_s:.0f} s: killed", stalled=True)
    return CommandResult(proc.returncode, output, duration)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files put into a cell belong to root there, whoever owns them here."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def pack(src: Path, name: str) -> IO[bytes]:
    """A tar of @src as the single top member @name, owned by root, in a
    temporary file (it has a file descriptor, so it can be a child's stdin)."""
    buf = tempfile.TemporaryFile()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname=name, filter=_root_owned)
    buf.seek(0)
    return buf


def unpack(buf: IO[bytes], name: str, dest: Path) -> None:
    """Extract the member @name of the tar in @buf (and what is under it) to
    exactly @dest; a directory merges into an existing one.  The "tar"
    filter (Python >= 3.11.4, 3.10.12) refuses members that would land
    outside the target, and keeps symlinks as they are (a build tree may
    hold absolute ones)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".get-") as tmp:
        with tarfile.open(fileobj=buf) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="tar")
            else:  # an older Python without extraction filters
                tar.extractall(tmp)
        got = Path(tmp) / name
        if got.is_dir() and not got.is_symlink():
            shutil.copytree(got, dest, symlinks=True, dirs_exist_ok=True)
        else:
            os.replace(got, dest)


class Provisioner(abc.ABC):
    """One cell's place to run things.  Subclasses set `name` to the matrix's
    provisioner value and implement the abstract methods."""

    name: ClassVar[str]
    #: what its cells can do: its plugin's (registry.py), so callers ask this
    #: and never the provisioner's type
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: The cell sees this host's files at the same paths (local; qemu through
    #: virtme-ng's shared root): the runner builds on the host and stages nothing.
    shares_host_fs: ClassVar[bool] = False
    #: a cell that prints nothing for this long has stopped answering and is
    #: killed (honoured by the VMs, whose hung guest no timeout(1) inside
    #: can end; the runner sets it from the suite timeout); None: never
    max_silence_s: float | None = None
    #: A staged cell builds only what its suites run (cellscript.lean_targets),
    #: not the whole tree: a VM under emulation, where compiling is slow.
    lean_build: ClassVar[bool] = False

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

    def module_kernel(self) -> Kernel:
        """The kernel the kernel suites' modules are built for (provisioners
        with capabilities.kernel_suites; set up by prepare())."""
        raise ProvisionError(f"{self.name} cells boot no kernel of their own: no kernel "
                             f"suites", culprit="harness")

    def facts(self) -> dict[str, str]:
        """What the started cell is, for its result's info (a VM: its kernel
        release and accelerator)."""
        return {}

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
