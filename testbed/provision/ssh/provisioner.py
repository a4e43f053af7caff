"""The `ssh` provisioner: any machine reachable over SSH (a FreeBSD box, an
arm64 board), driven with paramiko.

Where to connect comes from the cell's `ssh` mapping (SshTarget, in __init__.py)
or, for provisioners that find the address themselves (vagrant reads
`vagrant ssh-config`), from an explicit target:

    SshProvisioner(cell, logdir, target=SshTarget(host=..., port=2222, ...))

Everything that goes wrong on the way (cannot connect, host key refused,
authentication, a connection lost mid-run: what OpenSSH reports as exit 255)
raises ProvisionError with culprit "tool", so it is never mistaken for a
failing test.  The script's own exit status, whatever it is, is its result.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import time
from pathlib import Path

import paramiko

from testbed.matrix import Cell
from testbed.provision.base import CommandResult, Provisioner, ProvisionError, kill_at
from testbed.provision.ssh import PLUGIN, SshTarget, target_of

#: seconds the remote timeout(1) waits after the host's deadline before it
#: kills the script's process group.  The host alone decides "timed out"; the
#: remote kill only cleans up, and the grace keeps the two clocks from racing
#: (a remote kill a hair early would otherwise look like a script exiting 137).
REMOTE_KILL_GRACE_S = 1

#: Exceptions paramiko and the socket layer raise when the connection, not
#: the script, fails.
_LINK_ERRORS = (paramiko.SSHException, OSError, EOFError)


def _remote_command(timeout_s: float) -> str:
    """The command line sent to the remote login shell; the script follows on stdin.

    The script is saved to a remote temporary file and run from there, not
    fed to `sh -s` (a command in the script that reads stdin would eat the
    rest of the script) nor passed to `sh -c` (Linux caps one argument at
    128 KiB).  Its stdin is then at EOF, as for a batch job.  stderr is merged
    into stdout in the remote shell, so the two stay in the order they were
    written (two SSH streams would not).

    timeout(1) (GNU, BSD and busybox all have `-s`) puts the script in its own
    process group and kills all of it: closing the channel alone leaves a
    remote `sleep` running, since sshd does not signal a session without a
    pty.  Without timeout(1) the script still stops being waited for.

    The outer `sh -c '...'` is single-quoted on one line, so a login shell
    that is not POSIX (csh, the root shell of older FreeBSD) passes it on.
    """
    # whole seconds: every timeout(1) takes them
    kill = kill_at(timeout_s, whole_seconds=True, grace_s=REMOTE_KILL_GRACE_S)
    inner = ('f=$(mktemp) || exit 125; cat >"$f"; '
             'if command -v timeout >/dev/null 2>&1; '
             f'then {kill} sh "$f" 2>&1; '
             'else sh "$f" 2>&1; fi; rc=$?; rm -f "$f"; exit $rc')
    return "sh -c " + shlex.quote(inner)


class _UnknownHostKey(paramiko.SSHException):
    """The server's host key is not in known_hosts (and new keys are not accepted)."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse hosts whose key is not recorded (OpenSSH StrictHostKeyChecking=yes)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise _UnknownHostKey(f"{key.get_name()} {key.fingerprint}")


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust a key never seen before and append it to @path (OpenSSH's
    accept-new).  A key that differs from a recorded one never gets here:
    paramiko raises BadHostKeyException for it.  Appends one line rather than
    rewriting the file, which paramiko's save_host_keys would do, dropping
    entries it cannot parse (markers, comments)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class SshProvisioner(Provisioner):
    """A cell on a remote machine, as the SSH user of its target (root by
    default: the suites load kernel modules and the runner expects root)."""

    name = "ssh"
    capabilities = PLUGIN.capabilities
    #: seconds for TCP connect, the SSH banner, authentication and channel opens
    connect_timeout_s: float = 10.0
    #: seconds without progress before an SFTP transfer counts as a lost connection
    io_timeout_s: float = 60.0

    def __init__(self, cell: Cell, logdir: Path, target: SshTarget | None = None) -> None:
        """@target overrides the cell's `ssh` mapping (for provisioners that
        learn the address at run time); it may also be set before start()."""
        super().__init__(cell, logdir)
        self.target: SshTarget | None = target if target is not None else target_of(cell)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- where and how -------------------------------------------------------

    def _target(self) -> SshTarget:
        if self.target is None:
            raise ProvisionError(f"cell {self.cell.id}: no ssh target (the cell has no "
                                 f"ssh.host)", culprit="harness")
        return self.target

    @property
    def where(self) -> str:
        """user@host:port, for messages."""
        t = self.target
        return f"{t.user}@{t.host}:{t.port}" if t else f"cell {self.cell.id} (no ssh target)"

    @property
    def known_hosts(self) -> Path:
        """The known_hosts file in use: the target's, else the user's."""
        t = self._target()
        return t.known_hosts or Path("~/.ssh/known_hosts").expanduser()

    def unavailable(self) -> str | None:
        if self.target is None:
            return "the cell names no ssh.host to connect to"
        return None

    def _fail(self, what: str, err: BaseException | str) -> ProvisionError:
        """A ProvisionError naming the target, what was being done and why."""
        why = err if isinstance(err, str) else (
            getattr(err, "strerror", None) or str(err) or type(err).__name__)
        return ProvisionError(f"ssh {self.where}: {what}: {why}", culprit="tool")

    # -- connection ------------------------------------------------------------

    def start(self) -> None:
        if self._client is not None:
            return
        t = self._target()
        if t.key is not None and not t.key.is_file():
            raise self._fail("cannot connect", f"key file {t.key} does not exist")
        client = paramiko.SSHClient()
        known = self.known_hosts
        if known.is_file():
            try:
                client.load_host_keys(str(known))
            except (OSError, paramiko.SSHException) as e:
                raise self._fail(f"cannot read known_hosts {known}", e) from e
        client.set_missing_host_key_policy(
            _AcceptNew(known) if t.insecure_accept_new else _RejectUnknown())
        try:
            client.connect(
                t.host, port=t.port, username=t.user,
                key_filename=str(t.key) if t.key else None,
                # an explicit key is the only identity, as ssh -o IdentitiesOnly=yes
                look_for_keys=t.key is None, allow_agent=t.key is None,
                timeout=self.connect_timeout_s, banner_timeout=self.connect_timeout_s,
                auth_timeout=self.connect_timeout_s, channel_timeout=self.connect_timeout_s)
        except _UnknownHostKey as e:
            client.close()
            raise self._fail("host key refused", f"{e} is not in {known}; check it and add it "
                             f"(ssh-keyscan -p {t.port} {t.host} >> {known}), or set "
                             f"ssh.insecure_accept_new: true for a throw-away machine") from e
        except paramiko.BadHostKeyException as e:
            client.close()
            raise self._fail("host key refused", f"{e.key.get_name()} {e.key.fingerprint} "
                             f"differs from the key recorded in {known}: another machine "
                             f"answers at this address, or it was reinstalled") from e
        except paramiko.AuthenticationException as e:
            client.close()
            how = f"key {t.key}" if t.key else "the agent and ~/.ssh keys"
            raise self._fail(f"authentication as {t.user} with {how} failed", e) from e
        except TimeoutError as e:
            client.close()
            raise self._fail("cannot connect",
                             f"no answer within {self.connect_timeout_s:g} s") from e
        except _LINK_ERRORS as e:
            client.close()
            raise self._fail("cannot connect", e) from e
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)  # keeps NAT and firewall state through quiet runs
        self._client = client

    def _transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client else None
        if transport is None:
            raise ProvisionError(f"ssh {self.where}: not connected (start() first)",
                                 culprit="harness")
        if not transport.is_active():
            raise self._fail("connection lost", transport.get_exception() or "closed")
        return transport

    def stop(self, *, keep: bool = False) -> None:
        """Close the connection.  @keep changes nothing: the machine was up
        before the cell and stays up; `cse shell` reconnects with shell_argv()."""
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def shell_argv(self) -> list[str]:
        """OpenSSH with the same port, key and host-key policy as the connection."""
        t = self._target()
        argv = ["ssh", "-p", str(t.port)]
        if t.key is not None:
            argv += ["-i", str(t.key), "-o", "IdentitiesOnly=yes"]
        if t.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={t.known_hosts}"]
        policy = "accept-new" if t.insecure_accept_new else "yes"
        return argv + ["-o", f"StrictHostKeyChecking={policy}", f"{t.user}@{t.host}"]

    # -- running scripts -------------------------------------------------------

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        transport = self._transport()
        start = time.monotonic()
        deadline = start + timeout_s
        try:
            chan = transport.open_session(timeout=self.connect_timeout_s)
        except _LINK_ERRORS as e:
            raise self._fail("cannot open a session", e) from e
        try:
            chan.set_combine_stderr(True)  # the wrapper's own errors, before its 2>&1
            chan.exec_command(_remote_command(timeout_s))
            chan.settimeout(max(deadline - time.monotonic(), 0.01))
            chan.sendall(script.encode())
            chan.shutdown_write()
            output, finished = self._collect(chan, deadline)
        except TimeoutError:
            output, finished = b"", False  # could not even hand over the script in time
        except _LINK_ERRORS as e:
            raise self._fail("connection lost while running a script", e) from e
        finally:
            chan.close()
        text = output.decode("utf-8", errors="replace")
        duration = time.monotonic() - start
        if not finished:
            self._check_alive(f"no answer after the script's {timeout_s:g} s timeout")
            return CommandResult(None, text, duration, timed_out=True,
                                 error=f"timed out after {timeout_s:g} s")
        if chan.exit_status != -1:  # the status came, even if the link died after it
            return CommandResult(chan.exit_status, text, duration)
        if not transport.is_active():
            raise self._fail("connection lost while running a script",
                             transport.get_exception() or "closed")
        # closed with no exit-status: sshd sent exit-signal, which paramiko ignores
        return CommandResult(None, text, duration, error="the remote shell ended without an "
                                                         "exit status (killed by a signal)")

    def _collect(self, chan: paramiko.Channel, deadline: float) -> tuple[bytes, bool]:
        """Read @chan until it closes; (output, False) if @deadline comes first."""
        buf = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(buf), False
            # short slices, so the deadline is checked even while the script is silent
            chan.settimeout(min(remaining, 0.5))
            try:
                data = chan.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            buf += data
        # EOF; exit-status follows (or the channel closes when the link drops)
        while not chan.status_event.wait(min(max(deadline - time.monotonic(), 0), 0.5)):
            if time.monotonic() >= deadline:
                return bytes(buf), False
        return bytes(buf), True

    def _check_alive(self, why: str) -> None:
        """Raise if the connection no longer answers: a link that died silently
        shows up as a timeout, and must not be reported as the script's."""
        transport = self._transport()
        try:
            transport.open_session(timeout=self.connect_timeout_s).close()
        except _LINK_ERRORS as e:
            raise self._fail("connection lost", f"{why}; then: {e}") from e

    # -- files -----------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        self._transport()
        if self._sftp is None:
            assert self._client is not None
            try:
                self._sftp = self._client.open_sftp()
            except _LINK_ERRORS as e:
                raise self._fail("cannot start SFTP", e) from e
            self._sftp.get_channel().settimeout(self.io_timeout_s)
        return self._sftp

    def put(self, src: Path, dest: str) -> None:
        """Copy @src to the path @dest (the copy itself, as `cp -R src dest`
        when dest does not exist; an existing directory is merged into).
        Directories recursively, permission bits kept, symlinks as symlinks;
        missing parents of @dest are created."""
        if not (src.exists() or src.is_symlink()):
            raise ProvisionError(f"ssh {self.where}: cannot copy {src}: no such file",
                                 culprit="harness")
        sftp = self._sftp_client()
        try:
            self._mkdirs(sftp, posixpath.dirname(dest))
            self._put(sftp, src, dest)
        except _LINK_ERRORS as e:
            raise self._fail(f"cannot copy {src} to {dest}", e) from e

    def get(self, src: str, dest: Path) -> None:
        """Copy the remote file or directory @src to the host path @dest
        (as put(), in the other direction)."""
        sftp = self._sftp_client()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._get(sftp, src, dest)
        except _LINK_ERRORS as e:
            raise self._fail(f"cannot copy {src} to {dest}", e) from e

    @staticmethod
    def _mkdirs(sftp: paramiko.SFTPClient, path: str) -> None:
        """mkdir -p over SFTP."""
        if path in ("", "/", "."):
            return
        try:
            if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                return
        except FileNotFoundError:
            SshProvisioner._mkdirs(sftp, posixpath.dirname(path))
            sftp.mkdir(path)
            return
        raise NotADirectoryError(20, f"{path} exists and is not a directory")

    def _put(self, sftp: paramiko.SFTPClient, src: Path, dest: str) -> None:
        st = src.lstat()
        if stat.S_ISLNK(st.st_mode):
            try:
                sftp.remove(dest)
            except FileNotFoundError:
                pass
            sftp.symlink(os.readlink(src), dest)
        elif stat.S_ISDIR(st.st_mode):
            try:
                sftp.mkdir(dest)
            except OSError:
                if not stat.S_ISDIR(sftp.stat(dest).st_mode or 0):
                    raise
            for child in sorted(src.iterdir()):
                self._put(sftp, child, f"{dest}/{child.name}")
            sftp.chmod(dest, stat.S_IMODE(st.st_mode))
        elif stat.S_ISREG(st.st_mode):
            sftp.put(str(src), dest, confirm=True)
            sftp.chmod(dest, stat.S_IMODE(st.st_mode))
        # sockets, FIFOs and devices have no content to copy: skipped

    def _get(self, sftp: paramiko.SFTPClient, src: str, dest: Path) -> None:
        st = sftp.lstat(src)
        mode = st.st_mode or 0
        if stat.S_ISLNK(mode):
            dest.unlink(missing_ok=True)
            os.symlink(sftp.readlink(src) or "", dest)
        elif stat.S_ISDIR(mode):
            dest.mkdir(exist_ok=True)
            for attr in sorted(sftp.listdir_attr(src), key=lambda a: a.filename):
                self._get(sftp, f"{src}/{attr.filename}", dest / attr.filename)
            dest.chmod(stat.S_IMODE(mode))
        elif stat.S_ISREG(mode):
            sftp.get(src, str(dest))
            dest.chmod(stat.S_IMODE(mode))
