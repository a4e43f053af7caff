"""The vagrant provisioner: a developer VM from vagrant/<os>/Vagrantfile.

The cell's image is a Vagrant box.  Two routes:

  - a box of box.LOCAL_BOXES (cse/debian12): built here, offline, by its
    recipe under vagrant/box/ (cached by the recipe's hash) and added to
    Vagrant; the VM runs under vagrant-libvirt in libvirt's per-user
    session (qemu:///session: no system daemon, no libvirt network, no
    bridge), reached over QEMU's user-mode network on a port forwarded on
    127.0.0.1, its kernel booted directly and its serial console saved
    (vagrant/common.rb, cse_user_net);
  - any other box (generic/freebsd14, debian/bookworm64): downloaded by
    Vagrant from its box server, for VirtualBox or libvirt.

The OS in the box's name picks the Vagrantfile (vagrant/freebsd,
vagrant/debian), which reads the box from CSE_VAGRANT_BOX.  Lifecycle:
`vagrant up` (its provisioning script installs the build dependencies only:
the runner stages the source, builds and runs the suites itself, the kernel
modules too, against the VM's own kernel headers), then commands and copies
over plain ssh with the config `vagrant ssh-config` prints, then `vagrant
destroy -f` (not with --keep).  Vagrant's machine state lives outside the
source tree (build/vagrant/<cell>/, or for a local box in the home of the
user that runs Vagrant, box.run_as()), so cells and checkouts never share a
machine.

unavailable() says why a cell cannot run: no vagrant, no provider (for a
local box: vagrant-libvirt, libvirtd and QEMU, the user of libvirt's
session, and a box that is built or can be), or a box that is neither
installed nor downloadable.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import IO

from testbed.builds import BUILD_ROOT, ROOT
from testbed.matrix import Cell
from testbed.provision.base import (
    LIVE_LOG,
    CommandResult,
    Provisioner,
    ProvisionError,
    kill_at,
    pack,
    script_result,
    unpack,
)
from testbed.provision.vagrant import PLUGIN, box
from testbed.safepath import check_cell_id, inside

log = logging.getLogger(__name__)

VAGRANT_DIR = ROOT / "vagrant"
STATE_ROOT = BUILD_ROOT / "vagrant"
#: OS names looked for in a box name, each with a Vagrantfile in vagrant/<os>/
OSES = ("debian", "freebsd")
UP_TIMEOUT_S = 1800         # box download, boot and `pkg`/`apt` installs
DESTROY_TIMEOUT_S = 600
SSH_GRACE_S = 60            # past a run()'s timeout before ssh is given up on
#: seconds for a local box's VM to answer on ssh (CSE_VAGRANT_BOOT_TIMEOUT
#: overrides): a TCG boot takes about a minute here
BOOT_TIMEOUT_S = 600
_EXIT_MARK = "__CSE_EXIT="  # the remote exit status, after the script's output
SSH_CONNECT_TRIES = 3       # a run() whose ssh cannot connect at all is tried again
#: ssh's whole output when it never reached the remote shell (with LogLevel=ERROR)
_NO_CONNECTION = re.compile(r"\A(ssh: connect to host \S+ port \d+: Connection refused|"
                            r"kex_exchange_identification: .*|"
                            r"Connection (reset by|closed by) \S+ port \d+)\Z")
#: BatchMode: never a prompt; LogLevel: ssh's own errors shown (Vagrant's
#: ssh-config says FATAL, which leaves a failed connection unexplained)
_SSH_OPTS = ("-o", "BatchMode=yes", "-o", "LogLevel=ERROR")
#: what a local box's VM needs on this machine beyond vagrant
LOCAL_TOOLS = ("libvirtd", "virsh", "qemu-system-x86_64")


def vagrantfile_dir(image: str) -> Path:
    """vagrant/<os> for a box name; ProvisionError (harness) if none fits."""
    name = image.lower()
    for os_name in OSES:
        if os_name in name and (VAGRANT_DIR / os_name / "Vagrantfile").is_file():
            return VAGRANT_DIR / os_name
    raise ProvisionError(f"no Vagrantfile for box {image!r}: the box name must contain one of "
                         f"{', '.join(OSES)} (vagrant/<os>/Vagrantfile)", culprit="harness")


def vagrant_env(vagrantfile: Path, image: str, state: Path,
                provider: str | None = None) -> dict[str, str]:
    """The environment every vagrant command of a cell runs with."""
    env = dict(os.environ, VAGRANT_CWD=str(vagrantfile), VAGRANT_DOTFILE_PATH=str(state),
               CSE_VAGRANT_BOX=image, CSE_PROVISION_STEPS="deps", VAGRANT_NO_COLOR="1",
               VAGRANT_CHECKPOINT_DISABLE="1")  # no version check over the network
    if provider:
        env["VAGRANT_DEFAULT_PROVIDER"] = provider
    return env


def usable_providers() -> list[str]:
    """The providers this machine can run downloaded boxes with, preferred first."""
    found = []
    wanted = os.environ.get("VAGRANT_DEFAULT_PROVIDER")
    if Path("/var/run/libvirt/libvirt-sock").exists() and _has_plugin("vagrant-libvirt"):
        found.append("libvirt")
    if shutil.which("VBoxManage"):
        found.append("virtualbox")
    return sorted(found, key=lambda p: p != wanted)


def _has_plugin(name: str, who: box.RunAs | None = None) -> bool:
    env = who.env() if who else dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1")
    argv = ["vagrant", "plugin", "list"]
    try:
        out = subprocess.run(who.argv(argv, env) if who else argv, capture_output=True,
                             text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split(" ", 1)[0] == name for line in out.stdout.splitlines())


def local_box_missing(image: str, who: box.RunAs) -> str | None:
    """Why a local box's VM cannot run here (a tool or the user missing, a
    box that cannot be built), or None."""
    reasons = [f"{t} is not installed" for t in LOCAL_TOOLS if shutil.which(t) is None]
    if why := box.user_missing(who):
        reasons.append(why)
    elif not _has_plugin("vagrant-libvirt", who):
        reasons.append("the vagrant-libvirt plugin is not installed")
    if not box.cached(image):
        if shutil.which("mmdebstrap") is None:
            reasons.append(f"box {image} is not built and mmdebstrap, which builds it, "
                           f"is not installed")
        elif os.geteuid() != 0:
            reasons.append(f"box {image} is not built and its recipe "
                           f"(vagrant/box/{box.LOCAL_BOXES[image]}) needs root")
    if reasons:
        return "; ".join(reasons) + " (scripts/install-testbed-deps.sh installs them)"
    return None


def installed_boxes() -> dict[str, set[str]]:
    """Box name -> providers it is installed for (`vagrant box list`)."""
    try:
        out = subprocess.run(["vagrant", "box", "list", "--machine-readable"],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1")).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    boxes: dict[str, set[str]] = {}
    name = ""
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "box-name":
            name = fields[3]
            boxes.setdefault(name, set())
        elif len(fields) >= 4 and fields[2] == "box-provider" and name:
            boxes[name].add(fields[3])
    return boxes


def box_server() -> str:
    return os.environ.get("VAGRANT_SERVER_URL", "https://vagrantcloud.com").rstrip("/")


def box_downloadable(image: str) -> bool:
    """Whether the box server answers for @image (a quick probe: no network
    here fails at name resolution)."""
    try:
        with urllib.request.urlopen(f"{box_server()}/api/v2/box/{image}", timeout=10) as r:
            return r.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the VM's forwarded ssh)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accelerator() -> str:
    from testbed.provision.qemu.vm import kvm_usable

    return "kvm" if kvm_usable() else "qemu"


class VagrantProvisioner(Provisioner):
    """A VM from vagrant/<os>/Vagrantfile; see the module docstring."""

    name = "vagrant"
    capabilities = PLUGIN.capabilities
    #: its VM compiles under TCG here (about ten times slower than the host):
    #: only the programs and modules its suites run
    lean_build = True

    def __init__(self, cell: Cell, logdir: Path) -> None:
        super().__init__(cell, logdir)
        self.image = cell.image or ""
        self.local = box.is_local(self.image)
        self.who = box.run_as() if self.local else box.RunAs(None, Path.home())
        self.domain = ""
        if self.local:  # the checkout's own cells, in the home of Vagrant's user
            tree = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
            self.state = inside(self.who.home / "cells" / tree, check_cell_id(cell.id))
            #: the libvirt domain's name, one per checkout and cell (the session
            #: is shared); short: the guest agent channel's UNIX socket path
            #: (107 bytes at most) has it, under the home of Vagrant's user
            self.domain = "c" + hashlib.sha256(f"{ROOT}\0{cell.id}".encode()).hexdigest()[:6]
        else:
            self.state = inside(STATE_ROOT, check_cell_id(cell.id))
        self.ssh_config = self.state / "ssh_config"
        self.console = self.state / "console.log"
        self.provider: str | None = None
        self.local_box: box.LocalBox | None = None
        self.port = 0
        self.driver = "qemu"
        self._up = False

    def unavailable(self) -> str | None:
        if shutil.which("vagrant") is None:
            return "vagrant is not installed (scripts/install-testbed-deps.sh installs it)"
        if self.local:
            return local_box_missing(self.image, self.who)
        reasons = []
        providers = usable_providers()
        if not providers:
            reasons.append("no Vagrant provider is usable here: neither VirtualBox (VBoxManage) "
                           "nor libvirt (the vagrant-libvirt plugin and a running libvirtd) "
                           "is installed")
        have = installed_boxes().get(self.image, set())
        usable = have & set(providers) if providers else have
        if not usable and not box_downloadable(self.image):
            reasons.append(f"box {self.image} is not installed (`vagrant box list`) and cannot "
                           f"be downloaded from {box_server()} (no network access)")
        return "; ".join(reasons) or None

    def facts(self) -> dict[str, str]:
        if self.local_box is None:
            return {}
        return {"kernel": self.local_box.release,
                "accelerator": "kvm" if self.driver == "kvm" else "tcg",
                "box": self.local_box.name}

    # -- vagrant commands -------------------------------------------------

    def _vagrantfile_dir(self) -> Path:
        if self.local:  # the copy made by prepare(), which the user can read
            return self.state / "src" / vagrantfile_dir(self.image).relative_to(ROOT)
        return vagrantfile_dir(self.image)

    def _env(self) -> dict[str, str]:
        image = self.local_box.name if self.local_box else self.image
        env = vagrant_env(self._vagrantfile_dir(), image, self.state / "machine",
                          self.provider)
        if self.local_box is not None:
            b = self.local_box
            env |= {"CSE_VAGRANT_SSH_PORT": str(self.port), "CSE_VAGRANT_KEY": str(b.key),
                    "CSE_VAGRANT_KERNEL": str(b.kernel), "CSE_VAGRANT_INITRD": str(b.initrd),
                    "CSE_VAGRANT_CONSOLE": str(self.console),
                    "CSE_VAGRANT_POOL": str(self.who.home / "images"),
                    "CSE_VAGRANT_DRIVER": self.driver, "CSE_VAGRANT_NAME": self.domain}
            env.setdefault("CSE_VAGRANT_BOOT_TIMEOUT", str(BOOT_TIMEOUT_S))
        return self.who.env(env)

    def _vagrant(self, args: list[str], logname: str, timeout_s: float) -> str:
        """Run `vagrant ARGS`, its output saved to the logdir; ProvisionError
        (tool, naming the log) when it fails or outlives @timeout_s."""
        path = self.logdir / f"vagrant-{logname}.log"
        self.logs[f"vagrant-{logname}"] = path
        log.info("%s: vagrant %s (log: %s)", self.cell.id, " ".join(args), path)
        env = self._env()
        try:
            proc = subprocess.run(self.who.argv(["vagrant", *args], env), capture_output=True,
                                  text=True, timeout=timeout_s, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode()
            path.write_text(out)
            raise ProvisionError(f"vagrant {args[0]} did not finish in {timeout_s:.0f} s",
                                 log=path) from e
        except OSError as e:
            raise ProvisionError(f"cannot run vagrant: {e}") from e
        path.write_text(proc.stdout + proc.stderr)
        if proc.returncode:
            lines = [ln for ln in (proc.stdout + proc.stderr).strip().splitlines()
                     if not ln.lstrip().startswith("from /")]  # Ruby's backtrace
            tail = "\n".join(lines[-15:])
            raise ProvisionError(f"vagrant {args[0]} failed ({proc.returncode}):\n{tail}",
                                 log=path)
        return proc.stdout

    def _save_console(self) -> None:
        """The VM's serial console, into the logdir (as console.log)."""
        if self.local and self.console.is_file():
            dest = self.logdir / "console.log"
            shutil.copyfile(self.console, dest)
            self.logs["console"] = dest

    def prepare(self) -> None:
        """A provider and the box (a local one built and added, cached);
        the Vagrantfile is valid."""
        if self.local:
            self._prepare_local()
        else:
            providers = usable_providers()
            if not providers:
                raise ProvisionError("no Vagrant provider (VirtualBox or libvirt) is usable here")
            self.provider = providers[0]
            self.state.mkdir(parents=True, exist_ok=True)
        try:
            self._vagrant(["validate"], "validate", 120)
        except ProvisionError as e:  # our Vagrantfile: the testbed's fault
            e.culprit = "harness"
            raise

    def _prepare_local(self) -> None:
        self.provider = "libvirt"
        self.driver = _accelerator()
        log_path = self.logdir / "box.log"
        self.logs["box"] = log_path
        try:
            self.local_box = box.install(self.image, self.who, log_path,
                                         lambda m: log.info("%s: %s", self.cell.id, m))
        except box.BoxError as e:
            raise ProvisionError(f"box {self.image}: {e}", log=log_path) from e
        self.who.mkdir(self.state)
        self.who.mkdir(self.who.home / "images")
        self.who.mkdir(self.who.home / "run", 0o700)
        # the Vagrantfiles and provisioning scripts, where the user reads them;
        # their synced folder (../..) is this copy, not the checkout
        src = self.state / "src"
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(VAGRANT_DIR, src / "vagrant",
                        ignore=shutil.ignore_patterns(".vagrant", "box"))
        for d, _, files in os.walk(src):
            self.who.own(Path(d), *(Path(d) / f for f in files))
        self.console.unlink(missing_ok=True)
        self.port = free_port()
        self._clean_leftovers()

    def _clean_leftovers(self) -> None:
        """A VM of this checkout and cell left by a run that was killed (its
        forwarded port is stale): destroyed, with its disk, before `up`."""
        machine = self.state / "machine"
        if (machine / "machines" / "default" / "libvirt" / "id").exists():
            try:
                self._vagrant(["destroy", "-f"], "destroy-leftover", DESTROY_TIMEOUT_S)
            except ProvisionError as e:
                log.warning("%s: leftover VM: %s", self.cell.id, e)
            shutil.rmtree(machine, ignore_errors=True)
        self._virsh_remove()

    def _virsh(self, *args: str) -> str:
        """`virsh ARGS` on the session of Vagrant's user; its output ("" when
        it failed: callers check the state it should have left)."""
        env = self.who.env()
        try:
            proc = subprocess.run(self.who.argv(["virsh", "-c", "qemu:///session", *args], env),
                                  capture_output=True, text=True, timeout=120, env=env,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return ""
        return proc.stdout if proc.returncode == 0 else ""

    def _disks(self) -> list[Path]:
        """The cell's disks in the private pool (named after its domain)."""
        pool = self.who.home / "images"
        return sorted(pool.glob(f"{self.domain}_default*")) if pool.is_dir() else []

    def _virsh_remove(self) -> None:
        """The cell's domain powered off and undefined, with its disks (also
        those libvirt no longer counts as the domain's)."""
        name = f"{self.domain}_default"
        self._virsh("destroy", name)
        self._virsh("undefine", name, "--remove-all-storage")
        if self._disks():
            for disk in self._disks():
                disk.unlink(missing_ok=True)
            self._virsh("pool-refresh", "default")

    def _left_behind(self) -> list[str]:
        """What of the cell's VM is still there: its domain, its disks."""
        name = f"{self.domain}_default"
        left = [f"domain {name}"] if name in self._virsh("list", "--all", "--name").split() else []
        return left + [f"disk {p}" for p in self._disks()]

    def start(self) -> None:
        if self.provider is None:
            self.prepare()
        self._up = True  # from here on stop() must destroy, even if up fails half-way
        try:
            self._vagrant(["up", f"--provider={self.provider}", "--provision"], "up",
                          UP_TIMEOUT_S)
            self.ssh_config.write_text(self._vagrant(["ssh-config"], "ssh-config", 120))
        except ProvisionError as e:
            self._save_console()
            if self.local:
                e.args = (f"{e} (console: {self.logdir / 'console.log'})",)
            raise

    def stop(self, *, keep: bool = False) -> None:
        if not self._up:
            return
        self._save_console()
        if keep:
            log.warning("%s: VM left running; shell: %s", self.cell.id,
                        " ".join(shlex.quote(a) for a in self.shell_argv()))
            return
        try:
            self._vagrant(["destroy", "-f"], "destroy", DESTROY_TIMEOUT_S)
        except ProvisionError as e:
            if not self.local:
                raise
            # vagrant-libvirt's destroy can fail half-way (fog raises an
            # ArgumentError when the domain vanished under it).  What teardown
            # promises is that nothing is left: remove the domain and its disks
            # the way a killed run's leftovers are, and fail only if that did not.
            log.warning("%s: %s; removing the VM with virsh (log: %s)", self.cell.id,
                        str(e).splitlines()[0], e.log)
            self._virsh_remove()
            left = self._left_behind()
            if left:
                raise ProvisionError(f"{e}\nand after virsh undefine, still there: "
                                     f"{', '.join(left)}", log=e.log) from e
            shutil.rmtree(self.state / "machine", ignore_errors=True)
        self._up = False

    def shell_argv(self) -> list[str]:
        env = self._env()
        if self.who.user is not None:
            return self.who.argv(["vagrant", "ssh"], env)
        names = ("VAGRANT_CWD", "VAGRANT_DOTFILE_PATH", "CSE_VAGRANT_BOX",
                 *sorted(k for k in env if k.startswith("CSE_VAGRANT_")))
        return ["env", *dict.fromkeys(f"{k}={env[k]}" for k in names if k in env),
                "vagrant", "ssh"]

    # -- commands and files over ssh --------------------------------------

    def _ssh(self, remote: str, *, stdin: int | None = None, timeout_s: float,
             stderr: int = subprocess.STDOUT) -> subprocess.CompletedProcess[bytes]:
        """ssh @remote into the VM; stderr joins stdout unless it would
        corrupt a tar stream there."""
        if not self.ssh_config.exists():
            raise ProvisionError("no ssh config: call start() first", culprit="harness")
        argv = ["ssh", "-F", str(self.ssh_config), *_SSH_OPTS, "default", remote]
        try:
            return subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise ProvisionError(f"ssh to {self.cell.id} did not return within "
                                 f"{timeout_s:.0f} s") from e

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        """Run @script as root; its output also goes to <logdir>/cell.log as
        it comes, as with the other provisioners."""
        # The script travels on stdin into a file first, so that commands in it
        # that read stdin cannot eat the rest of it; the exit status comes back
        # as a last line, which tells a script's 255 from ssh's own.
        remote = "sudo sh -c " + shlex.quote(
            f't=$(mktemp) && cat >"$t" && {kill_at(timeout_s)} sh "$t" </dev/null 2>&1; '
            f'rc=$?; rm -f "$t"; echo "{_EXIT_MARK}$rc"')
        t0 = time.monotonic()
        live = self.logdir / LIVE_LOG
        for attempt in range(1, SSH_CONNECT_TRIES + 1):
            with live.open("wb") as f:
                returncode, text = self._ssh_streamed(remote, script, f, timeout_s + SSH_GRACE_S)
            # ssh never reached the VM's shell (refused, reset): the script
            # never started, so trying again cannot run it twice
            if returncode != 255 or not _NO_CONNECTION.match(text.strip()) or \
                    attempt == SSH_CONNECT_TRIES:
                break
            log.warning("%s: ssh could not connect (%s); again in %d s", self.cell.id,
                        text.strip(), 2 * attempt)
            time.sleep(2 * attempt)
        self.logs["output"] = live
        duration = time.monotonic() - t0
        body, _, status = text.rstrip("\n").rpartition(_EXIT_MARK)
        if not status.strip().isdigit():
            raise ProvisionError(f"ssh to {self.cell.id} failed ({returncode}): "
                                 f"{text.strip()[-1000:]}")
        return script_result(int(status), body, duration, timeout_s)

    def _ssh_streamed(self, remote: str, script: str, live: IO[bytes],
                      timeout_s: float) -> tuple[int, str]:
        """ssh @remote with @script on stdin, copying the output to @live as
        it comes; (ssh's exit status, the output)."""
        if not self.ssh_config.exists():
            raise ProvisionError("no ssh config: call start() first", culprit="harness")
        argv = ["ssh", "-F", str(self.ssh_config), *_SSH_OPTS, "default", remote]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdin is not None and proc.stdout is not None
        chunks: list[bytes] = []

        def copy() -> None:
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(65536):
                chunks.append(chunk)
                live.write(chunk)
                live.flush()

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        try:
            proc.stdin.write(script.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ssh ended early; its output says why
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.wait()
            raise ProvisionError(f"ssh to {self.cell.id} did not return within "
                                 f"{timeout_s:.0f} s (the VM hangs or the connection is "
                                 f"lost)") from e
        finally:
            reader.join(10)
        return proc.returncode, b"".join(chunks).decode(errors="replace")

    def put(self, src: Path, dest: str) -> None:
        target = PurePosixPath(dest)
        if not target.is_absolute() or not src.exists():
            raise ProvisionError(f"put: need an existing source and an absolute destination, "
                                 f"not {src} -> {dest!r}", culprit="harness")
        parent = shlex.quote(str(target.parent))
        with pack(src, target.name) as buf:
            proc = self._ssh(f"sudo mkdir -p {parent} && sudo tar -xf - -C {parent}",
                             stdin=buf.fileno(), timeout_s=UP_TIMEOUT_S)
        if proc.returncode:
            raise ProvisionError(f"put {src} -> {dest} failed: "
                                 f"{proc.stdout.decode(errors='replace')[-1000:]}")

    def get(self, src: str, dest: Path) -> None:
        path = PurePosixPath(src)
        proc = self._ssh(f"sudo tar -chf - -C {shlex.quote(str(path.parent))} "
                         f"{shlex.quote(path.name)}", timeout_s=UP_TIMEOUT_S,
                         stderr=subprocess.PIPE)
        if proc.returncode:
            why = (proc.stderr or b"").decode(errors="replace")[-1000:]
            raise ProvisionError(f"get {src} failed ({proc.returncode}): {why}")
        with tempfile.TemporaryFile() as buf:
            buf.write(proc.stdout)
            buf.seek(0)
            unpack(buf, path.name, dest)
