"""The `local` provisioner: this host, as it is.

Scripts run with /bin/sh in the checkout, as the invoking user, in a session
of their own: at the timeout the whole session is killed, including suites
that `timeout` moved into process groups of their own.  The output is
streamed to <logdir>/cell.log as it comes, so a hung run keeps what it
printed and the runner can show which suite is running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

from testbed.builds import ROOT, Flavour
from testbed.provision.base import CommandResult, Provisioner, ProvisionError, copy_on_host

LIVE_LOG = "cell.log"


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


def run_streamed(argv: list[str], log: Path, timeout_s: float,
                 cwd: Path | None = None) -> CommandResult:
    """Run @argv in a new session, its output (stdout+stderr) copied to @log
    as it comes; kill the session at @timeout_s (returncode None then)."""
    chunks: list[bytes] = []
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    except OSError as e:
        raise ProvisionError(f"cannot start {argv[0]}: {e}", culprit="tool") from e

    def copy() -> None:
        with log.open("wb") as f:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                chunks.append(chunk)
                f.write(chunk)
                f.flush()

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    except BaseException:  # Ctrl-C: leave nothing running behind us
        kill_session(proc.pid)
        proc.wait()
        raise
    kill_session(proc.pid)  # also whatever the script left in the background
    proc.wait()
    reader.join(timeout=10)
    proc.stdout.close()
    output = b"".join(chunks).decode(errors="replace")
    if timed_out:
        return CommandResult(None, output, time.monotonic() - t0, True,
                             f"killed after {timeout_s:.0f} s")
    return CommandResult(proc.returncode, output, time.monotonic() - t0)


class LocalProvisioner(Provisioner):
    """This host: nothing to set up, the build on the host is used in place.

    Any target the host can build is a local cell: programs for this machine
    run as they are, another Linux architecture's under qemu-user, and
    another OS's (FreeBSD) not at all: such a cell is build-only.
    """

    name: ClassVar[str] = "local"
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
