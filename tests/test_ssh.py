"""The ssh provisioner against a real OpenSSH sshd that these tests start on
127.0.0.1 (the "remote" machine is this one, so its side can be checked
directly: files on disk, processes with pgrep)."""

from __future__ import annotations

import getpass
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from testbed import ktap
from testbed.matrix import Cell, load_matrix
from testbed.provision import ProvisionError, provisioner_for
from testbed.provision.ssh import SshTarget, settings, target_of
from testbed.provision.ssh.provisioner import SshProvisioner

SSHD = Path("/usr/sbin/sshd")
#: sshd's privilege separation directory; it refuses to start without it
PRIVSEP_DIR = Path("/run/sshd")


@dataclass
class Sshd:
    """One running sshd and the keys to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    dir: Path
    client_key: Path
    #: a known_hosts file that records this sshd's host key
    known_hosts: Path
    log: Path

    def target(self, **over: Any) -> SshTarget:
        """This sshd as a target, with fields replaced by @over."""
        t = SshTarget(host="127.0.0.1", user=getpass.getuser(), port=self.port,
                      key=self.client_key, known_hosts=self.known_hosts)
        return replace(t, **over)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
                   check=True)


def _start_sshd(d: Path) -> Sshd:
    """Start sshd in the foreground (-D -e: this test owns the process) with
    a throw-away config, host key and client key under @d."""
    if not SSHD.is_file():
        pytest.fail(f"{SSHD} is missing: run scripts/install-testbed-deps.sh")
    d.mkdir(parents=True, exist_ok=True)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    for attempt in range(5):  # the free port may be taken before sshd binds it
        port = _free_port()
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\n"
            f"HostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            "StrictModes no\n"          # the tmp dirs' modes are not ~/.ssh's
            "UsePAM no\n"               # Debian's PAM stack wants a login session
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\n"
            "LogLevel VERBOSE\n")
        log = d / f"sshd-{attempt}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        if proc.poll() is None and time.monotonic() < deadline:
            host_key = (d / "host_key.pub").read_text().split()
            known = d / "known_hosts"
            known.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
            return Sshd(proc, port, d, d / "client_key", known, log)
        proc.kill()
        proc.wait()
        if "Address already in use" not in log.read_text():
            break
    pytest.fail(f"sshd did not start: {log.read_text()}")


def _stop_sshd(sshd: Sshd) -> None:
    sshd.proc.terminate()
    try:
        sshd.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sshd.proc.kill()
        sshd.proc.wait()


def _descendants(pid: int) -> list[int]:
    """The processes below @pid, from /proc (children before grandchildren)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            parent[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _running(argv: str) -> bool:
    """True while a process with exactly this command line exists."""
    return subprocess.run(["pgrep", "-fx", argv], capture_output=True).returncode == 0


def _unique_sleep() -> str:
    """`sleep 100`, with a fraction no other process on this host uses."""
    return f"sleep 100.{random.randrange(10**8):08d}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = _start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    _stop_sshd(server)


def _cell(target: SshTarget | None) -> Cell:
    return Cell(id="ssh-loopback", provisioner="ssh", arch="x86_64", libc="glibc",
                backend="linux", suites=("uu",), settings=settings(target))


@pytest.fixture
def prov(sshd: Sshd, tmp_path: Path) -> Iterator[SshProvisioner]:
    p = SshProvisioner(_cell(sshd.target()), tmp_path / "log")
    p.start()
    yield p
    p.stop()


def test_run_returns_output_in_order_and_status(prov: SshProvisioner) -> None:
    r = prov.run("echo out; echo err >&2; echo out2\nprintf '%s\\n' \"it's $((6 * 7))\"\n",
                 timeout_s=30)
    assert (r.returncode, r.timed_out, r.error) == (0, False, "")
    assert r.output == "out\nerr\nout2\nit's 42\n"


def test_nonzero_exit_status_is_the_returncode(prov: SshProvisioner) -> None:
    r = prov.run("echo before; exit 3", timeout_s=30)
    assert (r.returncode, r.output, r.timed_out) == (3, "before\n", False)


def test_script_reading_stdin_does_not_eat_the_script(prov: SshProvisioner) -> None:
    # fed to `sh -s`, the cat would swallow the rest of the script (sh reads it
    # in blocks, hence the padding); 200 KiB is also more than `sh -c` takes
    r = prov.run("cat\n" + ": padding line\n" * 14000 + "echo after\n", timeout_s=30)
    assert (r.returncode, r.output) == (0, "after\n")


def test_timeout_stops_waiting_and_kills_the_remote_script(prov: SshProvisioner) -> None:
    sleep = _unique_sleep()
    t0 = time.monotonic()
    r = prov.run(f"echo started; {sleep}; echo not reached", timeout_s=3)
    took = time.monotonic() - t0
    assert r.timed_out and r.returncode is None and "timed out" in r.error
    assert r.output == "started\n"
    assert 3 <= took < 6, took
    # the remote timeout(1) kills the process group just after the host gave up
    deadline = time.monotonic() + 10
    while _running(sleep) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(sleep), f"{sleep} still runs on the 'remote' host"
    assert prov.run("echo still connected", timeout_s=30).output == "still connected\n"


def _tree(root: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Relative path -> (kind, permission bits, content or link target)."""
    out: dict[str, tuple[str, int, bytes | str]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", 0, os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())
    return out


def test_put_and_get_round_trip_files_and_directories(prov: SshProvisioner,
                                                      tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "tool").write_bytes(os.urandom(300_000))  # several SFTP packets
    (src / "tool").chmod(0o755)
    (src / "sub" / "deep" / "notes.txt").write_text("déjà vu\n")
    (src / "sub" / "private").write_bytes(b"\x00\x01secret")
    (src / "sub" / "private").chmod(0o600)
    (src / "link").symlink_to("tool")
    single = tmp_path / "single.bin"
    single.write_bytes(os.urandom(5000))

    remote = tmp_path / "remote"  # the "remote" host is this one
    prov.put(src, str(remote / "a" / "tree"))  # missing parents are created
    prov.put(single, str(remote / "single.bin"))
    assert _tree(remote / "a" / "tree") == _tree(src)
    assert (remote / "single.bin").read_bytes() == single.read_bytes()

    back = tmp_path / "back"
    prov.get(str(remote / "a" / "tree"), back / "tree")
    prov.get(str(remote / "single.bin"), back / "single.bin")
    assert _tree(back / "tree") == _tree(src)
    assert (back / "single.bin").read_bytes() == single.read_bytes()


def test_get_of_a_missing_file_is_a_tool_error(prov: SshProvisioner, tmp_path: Path) -> None:
    with pytest.raises(ProvisionError) as err:
        prov.get(str(tmp_path / "nope"), tmp_path / "dest")
    assert err.value.culprit == "tool" and "nope" in str(err.value)


def test_ktap_printed_remotely_parses(prov: SshProvisioner) -> None:
    script = """\
echo "KTAP version 1"
echo "1..3"
n=0
for name in echo callback_order zero_length; do
    n=$((n + 1))
    case $name in
    callback_order) echo "# expected 5 callbacks, got 4"; echo "not ok $n $name" ;;
    zero_length) echo "ok $n $name # SKIP not on $(uname -s)-remote" ;;
    *) echo "ok $n $name" ;;
    esac
done
"""
    r = prov.run(script, timeout_s=30)
    assert r.returncode == 0, r.output
    run = ktap.parse(r.output)
    assert run.complete
    cases = run.by_name()
    assert [(c.name, c.status) for c in run.cases] == [
        ("echo", "pass"), ("callback_order", "fail"), ("zero_length", "skip")]
    assert cases["callback_order"].diagnostics == ["expected 5 callbacks, got 4"]
    assert cases["zero_length"].reason == f"not on {os.uname().sysname}-remote"


def test_wrong_port_is_a_quick_tool_error(sshd: Sshd, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    p = SshProvisioner(_cell(sshd.target(port=port)), tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ProvisionError) as err:
        p.start()
    assert time.monotonic() - t0 < 5
    assert err.value.culprit == "tool"
    assert f"127.0.0.1:{port}" in str(err.value) and "cannot connect" in str(err.value)
    p.stop()  # safe after a failed start


def test_unknown_host_key_is_refused_unless_accept_new(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # does not exist yet
    with pytest.raises(ProvisionError) as err:
        SshProvisioner(_cell(sshd.target(known_hosts=known)), tmp_path).start()
    assert err.value.culprit == "tool"
    assert "host key refused" in str(err.value) and "insecure_accept_new" in str(err.value)
    assert not known.exists()

    accept = SshProvisioner(_cell(sshd.target(known_hosts=known, insecure_accept_new=True)),
                            tmp_path)
    with accept:
        assert accept.run("echo in", timeout_s=30).output == "in\n"
    # the key is recorded as OpenSSH would: later strict connections trust it
    assert known.read_text() == sshd.known_hosts.read_text()
    with SshProvisioner(_cell(sshd.target(known_hosts=known)), tmp_path) as strict:
        assert strict.run("echo again", timeout_s=30).output == "again\n"


def test_changed_host_key_is_refused_even_with_accept_new(sshd: Sshd, tmp_path: Path) -> None:
    _keygen(tmp_path / "impostor")
    kind, b64 = (tmp_path / "impostor.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    p = SshProvisioner(_cell(sshd.target(known_hosts=known, insecure_accept_new=True)),
                       tmp_path)
    with pytest.raises(ProvisionError) as err:
        p.start()
    assert err.value.culprit == "tool" and "differs from the key recorded" in str(err.value)


def test_authentication_failure_is_a_tool_error(sshd: Sshd, tmp_path: Path) -> None:
    _keygen(tmp_path / "stranger")  # not in authorized_keys
    p = SshProvisioner(_cell(sshd.target(key=tmp_path / "stranger")), tmp_path)
    with pytest.raises(ProvisionError) as err:
        p.start()
    assert err.value.culprit == "tool" and "authentication" in str(err.value)
    missing = SshProvisioner(_cell(sshd.target(key=tmp_path / "no-such-key")), tmp_path)
    with pytest.raises(ProvisionError, match="no-such-key does not exist"):
        missing.start()


def test_sshd_killed_mid_run_is_a_tool_error(tmp_path: Path) -> None:
    own = _start_sshd(tmp_path / "sshd")  # not the shared one: this test kills it
    sleep = _unique_sleep()
    p = SshProvisioner(_cell(own.target()), tmp_path / "log")
    p.start()
    session: dict[int, str] = {}  # pid -> command name, of everything below sshd

    def kill_sshd_once_the_script_runs() -> None:
        deadline = time.monotonic() + 10
        while not _running(sleep) and time.monotonic() < deadline:
            time.sleep(0.05)
        session.update({pid: _comm(pid) for pid in _descendants(own.proc.pid)})
        _kill([own.proc.pid] + [pid for pid, comm in session.items() if comm == "sshd"])

    killer = threading.Thread(target=kill_sshd_once_the_script_runs)
    killer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(ProvisionError) as err:
            p.run(f"echo started; {sleep}", timeout_s=60)
    finally:
        killer.join()
        own.proc.wait()
        _kill(list(session))  # the orphaned script (timeout, sh, sleep)
        p.stop()
    assert "sleep" in session.values(), f"the script never ran: {session}"
    assert err.value.culprit == "tool" and "connection lost" in str(err.value)
    assert time.monotonic() - t0 < 20


def test_shell_argv_reaches_the_host_with_the_same_policy(sshd: Sshd, prov: SshProvisioner,
                                                          tmp_path: Path) -> None:
    def ssh(argv: list[str]) -> subprocess.CompletedProcess[str]:
        # BatchMode: fail instead of prompting; the command replaces the interactive shell
        return subprocess.run([*argv[:-1], "-o", "BatchMode=yes", argv[-1], "echo", "hi"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)

    argv = prov.shell_argv()
    assert argv[:3] == ["ssh", "-p", str(sshd.port)] and argv[-1].endswith("@127.0.0.1")
    done = ssh(argv)
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    strict = SshProvisioner(_cell(sshd.target(known_hosts=empty)), tmp_path).shell_argv()
    refused = ssh(strict)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr


def test_explicit_target_and_lifecycle(sshd: Sshd, tmp_path: Path) -> None:
    """How a provisioner that learns the address at run time (vagrant) uses it."""
    bare = SshProvisioner(_cell(None), tmp_path)
    assert bare.unavailable() == "the cell names no ssh.host to connect to"
    p = SshProvisioner(_cell(None), tmp_path, target=sshd.target())
    assert p.unavailable() is None
    with pytest.raises(ProvisionError) as err:
        p.run("true", timeout_s=5)
    assert err.value.culprit == "harness" and "start() first" in str(err.value)
    with p:
        assert p.run("echo $((1 + 1))", timeout_s=30).output == "2\n"
    p.stop()  # twice is fine
    with pytest.raises(ProvisionError, match="start\\(\\) first"):
        p.run("true", timeout_s=5)


def test_cell_from_the_matrix_connects(sshd: Sshd, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    shutil.copy(sshd.client_key, tmp_path / "keys" / "id")
    shutil.copy(sshd.known_hosts, tmp_path / "kh")
    matrix = tmp_path / "m.yaml"
    matrix.write_text(f"""\
cells:
  - id: ssh-loopback
    provisioner: ssh
    arch: x86_64
    libc: glibc
    backend: linux
    suites: [uu]
    ssh:
      host: 127.0.0.1
      user: {getpass.getuser()}
      port: {sshd.port}
      key: keys/id          # relative to the matrix file
      known_hosts: kh
""")
    (cell,) = load_matrix(matrix)
    assert (t := target_of(cell)) is not None and t.key == tmp_path / "keys" / "id"
    p = provisioner_for(cell, tmp_path / "log")
    assert isinstance(p, SshProvisioner)
    with p:
        r = p.run("uname -s", timeout_s=30)
    assert (r.returncode, r.output) == (0, f"{os.uname().sysname}\n")
