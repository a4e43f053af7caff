"""Make sure a Docker daemon answers, starting one when none does.

The testbed needs a daemon but must not touch the host's networking, so the
daemon it starts has no default bridge (--bridge=none: no docker0 on a
private range that could shadow a real network) and writes no iptables rules
(--iptables=false --ip-masq=false); every container runs with --network none
anyway.  Storage: overlay2 when the filesystem under the data root supports
it (ext4 here), else vfs (full copies: slow and big, but works anywhere).

A daemon started here keeps running after the process that started it ends:
it is the machine's daemon on the default socket, so `docker` and
`cse shell` reach it and the next run need not wait for it.  Its output goes
to build/docker/dockerd.log; stop it with `kill $(cat /var/run/docker.pid)`.

Concurrent callers (pytest-xdist workers, parallel cells, two checkouts)
serialise on a machine-wide file lock, so only one of them starts a daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from testbed.builds import BUILD_ROOT
from testbed.provision.base import ProvisionError

log = logging.getLogger(__name__)

#: the flags the issue asks for: no bridge, no iptables rules, no masquerading
NETWORK_FLAGS = ("--bridge=none", "--iptables=false", "--ip-masq=false")
#: machine-wide locks (the daemon and the image store are machine-wide)
LOCK_DIR = Path(tempfile.gettempdir()) / "cse-testbed-locks"
#: API calls other than streams: a daemon silent this long is treated as hung
API_TIMEOUT_S = 60


@dataclass(frozen=True)
class DaemonConfig:
    """Where the daemon listens and keeps its state.  The default is the
    machine's own daemon; the tests use a private one with its own paths."""

    socket: Path = Path("/var/run/docker.sock")
    pidfile: Path = Path("/var/run/docker.pid")
    log: Path = BUILD_ROOT / "docker" / "dockerd.log"
    data_root: Path | None = None    # None: dockerd's default, /var/lib/docker
    exec_root: Path | None = None    # None: dockerd's default, /var/run/docker
    storage_drivers: tuple[str, ...] = ("overlay2", "vfs")  # tried in order
    start_timeout_s: float = 60.0

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def argv(self, dockerd: str, storage_driver: str) -> list[str]:
        argv = [dockerd, f"--host={self.base_url}", f"--pidfile={self.pidfile}",
                *NETWORK_FLAGS, f"--storage-driver={storage_driver}"]
        if self.data_root:
            argv.append(f"--data-root={self.data_root}")
        if self.exec_root:
            argv.append(f"--exec-root={self.exec_root}")
        return argv


SYSTEM = DaemonConfig()


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold an exclusive flock on LOCK_DIR/@name.lock (blocks until free).
    The lock goes away with the process, so a killed holder never wedges it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def client_for(config: DaemonConfig = SYSTEM, timeout: float | None = API_TIMEOUT_S,
               version: str = "auto") -> docker.DockerClient:
    """A client of @config's daemon (DOCKER_HOST wins for the system daemon).
    timeout=None: no read timeout, for streams that may stay silent for long.
    version "auto" asks the daemon (one request); a known version sends none."""
    if config == SYSTEM and os.environ.get("DOCKER_HOST"):
        return docker.from_env(timeout=timeout, version=version)
    return docker.DockerClient(base_url=config.base_url, timeout=timeout, version=version)


def ping(config: DaemonConfig = SYSTEM) -> docker.DockerClient | None:
    """A working client if the daemon answers now, else None."""
    try:
        client = client_for(config, timeout=10)
        client.ping()
        return client
    except (docker.errors.DockerException, OSError):
        return None


def _alive(pid: int) -> bool:
    """Whether @pid runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _running_dockerd(pidfile: Path) -> int | None:
    """The pid of a dockerd that owns @pidfile and still runs, else None."""
    try:
        pid = int(pidfile.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dockerd" and _alive(pid) else None


def _log_tail(path: Path, offset: int, lines: int = 5) -> str:
    """The last error-looking lines @path got since @offset, for messages."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    picked = [ln for ln in text.splitlines()
              if "level=fatal" in ln or "level=error" in ln
              or ln.startswith("failed to start daemon")]
    return "\n".join((picked or text.splitlines())[-lines:])


def _wait(config: DaemonConfig, pid: int, deadline: float) -> docker.DockerClient | None:
    """Poll until the daemon answers (its client), dies or @deadline passes (None)."""
    while time.monotonic() < deadline:
        if client := ping(config):
            return client
        if not _alive(pid):
            return None
        time.sleep(0.25)
    return ping(config)


def _start(config: DaemonConfig, dockerd: str, driver: str) -> tuple[int, int]:
    """Launch dockerd detached (its own session, reparented to init so it
    outlives us and is never our zombie); return (pid, log offset)."""
    config.log.parent.mkdir(parents=True, exist_ok=True)
    argv = config.argv(dockerd, driver)
    with config.log.open("ab") as f:
        offset = f.tell()
        f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} testbed starts: "
                f"{' '.join(argv)}\n".encode())
    # `sh -c 'cmd & echo $!'`: sh exits at once, so dockerd's parent is init.
    out = subprocess.run(
        ["sh", "-c", 'log=$1; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!',
         "sh", str(config.log), *argv],
        capture_output=True, text=True, start_new_session=True, check=True)
    return int(out.stdout.strip()), offset


def _stop(pid: int) -> None:
    """End a dockerd this module started and that did not come up."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(40):
            if not _alive(pid):
                return
            time.sleep(0.25)
        os.kill(pid, signal.SIGKILL)


def ensure_daemon(config: DaemonConfig = SYSTEM,
                  progress: Callable[[str], None] = log.info) -> docker.DockerClient:
    """A client of a daemon that answers, starting dockerd if needed.

    Raises ProvisionError (culprit "tool", naming the daemon's log) when no
    daemon answers and none can be started.
    """
    if client := ping(config):
        return client
    if config == SYSTEM and os.environ.get("DOCKER_HOST"):
        raise ProvisionError(f"the Docker daemon at DOCKER_HOST={os.environ['DOCKER_HOST']} "
                             f"does not answer; start it, or unset DOCKER_HOST to let the "
                             f"testbed start a local one")
    key = hashlib.sha1(str(config.socket).encode()).hexdigest()[:10]
    with machine_lock(f"dockerd-{key}"):
        if client := ping(config):  # another caller started it while we waited
            return client
        if pid := _running_dockerd(config.pidfile):
            # Started by someone else and still coming up (or hung): wait, never
            # start a second one on the same pidfile.
            progress(f"dockerd (pid {pid}) runs but does not answer yet; waiting")
            if client := _wait(config, pid, time.monotonic() + config.start_timeout_s):
                return client
            raise ProvisionError(
                f"dockerd (pid {pid}) runs but does not answer on {config.socket} after "
                f"{config.start_timeout_s:.0f} s; see its log (/var/log/docker.log, "
                f"journalctl -u docker or {config.log})", log=config.log)
        return _start_first_working(config, progress)


def _start_first_working(config: DaemonConfig,
                         progress: Callable[[str], None]) -> docker.DockerClient:
    """Start dockerd with each storage driver in turn until one answers."""
    if not sys.platform.startswith("linux"):
        raise ProvisionError(f"no Docker daemon answers on {config.socket}, and the testbed "
                             f"starts one only on Linux; start Docker yourself")
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")
    if dockerd is None:
        raise ProvisionError("no Docker daemon answers and dockerd is not installed: run "
                             "scripts/install-testbed-deps.sh (Debian package docker.io)")
    if os.geteuid() != 0:
        raise ProvisionError(f"no Docker daemon answers on {config.socket}, and starting "
                             f"dockerd needs root: run as root, or start Docker "
                             f"(systemctl start docker) and join the docker group")
    failures = []
    for driver in config.storage_drivers:
        progress(f"starting dockerd (storage driver {driver}); log: {config.log}")
        pid, offset = _start(config, dockerd, driver)
        client = _wait(config, pid, time.monotonic() + config.start_timeout_s)
        if client is not None:
            progress(f"dockerd is up (pid {pid}, storage driver {driver})")
            return client
        if _alive(pid):  # up but silent: a different driver will not help
            _stop(pid)
            raise ProvisionError(
                f"dockerd (pid {pid}) did not answer on {config.socket} within "
                f"{config.start_timeout_s:.0f} s and was stopped; see {config.log}:\n"
                f"{_log_tail(config.log, offset)}", log=config.log)
        failures.append(f"{driver}: {_log_tail(config.log, offset, 2) or 'exited'}")
    raise ProvisionError(
        f"dockerd exited at start with every storage driver tried; see {config.log}:\n"
        + "\n".join(failures), log=config.log)
