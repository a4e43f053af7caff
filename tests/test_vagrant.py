"""The Vagrant developer VMs: the Vagrantfiles validate, the provisioner says
why it cannot run here, vagrant/provision/debian.sh really builds CSE and
passes the conformance suite inside a bookworm container of the docker
provisioner, and the Debian 12 box built here (vagrant/box/debian12.sh) comes
up for real: `vagrant up` with vagrant-libvirt in libvirt's per-user session,
the suites (uu, kk, uk, ku) through the runner, `vagrant destroy`, with no
bridge and no address added to the host; a VM that does not boot is
ERROR/tool with its console kept, a VM that refuses ssh is ERROR/tool.

make test installs the provider and builds the box (scripts/
install-testbed-deps.sh, the box cached by its recipe's hash): their absence
fails these tests, never skips them."""

from __future__ import annotations

import dataclasses
import logging
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_images import docker_group, shared_bookworm

from testbed import ktap
from testbed.builds import ROOT
from testbed.matrix import Cell, load_matrix
from testbed.provision import provisioner_for
from testbed.provision.base import CommandResult, ProvisionError
from testbed.provision.vagrant import box
from testbed.provision.vagrant.provisioner import (
    SSH_CONNECT_TRIES,
    VAGRANT_DIR,
    VagrantProvisioner,
    vagrant_env,
    vagrantfile_dir,
)
from testbed.runner import RunOptions, cell_dir, run_cell

HOST_ARCH = {"amd64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
BOXES = {"debian": "debian/bookworm64", "freebsd": "generic/freebsd14"}


def _validate(vagrantfile: Path, box: str, state: Path) -> subprocess.CompletedProcess[str]:
    # --ignore-provider: with no provider installed, plain validate stops at
    # "No usable default provider" before reading the file.
    return subprocess.run(["vagrant", "validate", "--ignore-provider"], capture_output=True,
                          text=True, timeout=120, env=vagrant_env(vagrantfile, box, state))


@pytest.mark.parametrize("os_name", sorted(BOXES))
def test_vagrantfile_validates(os_name: str, tmp_path: Path) -> None:
    r = _validate(VAGRANT_DIR / os_name, BOXES[os_name], tmp_path / "state")
    assert r.returncode == 0 and "validated successfully" in r.stdout, r.stdout + r.stderr
    assert not (VAGRANT_DIR / os_name / ".vagrant").exists(), "state left in the source tree"


def test_the_offline_route_validates_with_libvirt(tmp_path: Path) -> None:
    """vagrant/common.rb's cse_user_net, as the testbed sets it, is a valid
    vagrant-libvirt configuration (the provider's own checks included)."""
    env = vagrant_env(VAGRANT_DIR / "debian", "cse-debian12-test", tmp_path / "state",
                      "libvirt")
    env |= {"CSE_VAGRANT_SSH_PORT": "2222", "CSE_VAGRANT_KEY": str(tmp_path / "key"),
            "CSE_VAGRANT_KERNEL": "/k", "CSE_VAGRANT_INITRD": "/i",
            "CSE_VAGRANT_CONSOLE": str(tmp_path / "console.log"),
            "CSE_VAGRANT_POOL": str(tmp_path / "pool"), "CSE_VAGRANT_NAME": "ctest"}
    (tmp_path / "key").write_text("")
    r = subprocess.run(["vagrant", "validate"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0 and "validated successfully" in r.stdout, r.stdout + r.stderr


def test_validate_catches_a_missing_provisioning_script(tmp_path: Path) -> None:
    """So that the test above can fail: validate reads the provisioner paths."""
    copy = tmp_path / "vagrant"
    shutil.copytree(VAGRANT_DIR, copy)
    (copy / "provision" / "debian.sh").unlink()
    r = _validate(copy / "debian", BOXES["debian"], tmp_path / "state")
    assert r.returncode != 0 and "debian.sh" in r.stdout + r.stderr


@pytest.mark.parametrize("script", ["debian.sh", "freebsd.sh", "steps.sh"])
def test_provisioning_script_parses_as_posix_sh(script: str) -> None:
    r = subprocess.run(["sh", "-n", str(VAGRANT_DIR / "provision" / script)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_box_names_pick_their_vagrantfile() -> None:
    assert vagrantfile_dir("generic/freebsd14") == VAGRANT_DIR / "freebsd"
    assert vagrantfile_dir("debian/bookworm64") == VAGRANT_DIR / "debian"
    with pytest.raises(ProvisionError, match="debian, freebsd") as e:
        vagrantfile_dir("generic/openbsd7")
    assert e.value.culprit == "harness"


def test_unavailable_says_why_here(tmp_path: Path) -> None:
    """This machine has no provider and cannot reach the box server; the
    matrix's vagrant cell says so too."""
    if shutil.which("VBoxManage") or Path("/var/run/libvirt/libvirt-sock").exists():
        pytest.skip("a VM provider is installed here")  # the reason then differs
    cell = next(c for c in load_matrix(ROOT / "ci" / "matrix.yaml")
                if c.provisioner == "vagrant" and not box.is_local(c.image or ""))
    why = provisioner_for(cell, tmp_path).unavailable()
    assert why is not None and "no Vagrant provider" in why
    boxes = subprocess.run(["vagrant", "box", "list"], capture_output=True, text=True,
                           timeout=60).stdout
    if cell.image not in boxes:
        assert f"box {cell.image} is not installed" in why
    assert cell.skip_reason and "provider" in cell.skip_reason


def _stage_source(dest: Path) -> None:
    """The files of the checkout git knows (tracked, plus new ones not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    for name in out.decode().split("\0"):
        if name and (ROOT / name).is_file():  # not deleted in the work tree
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


@docker_group
def test_debian_provisioning_builds_and_passes_in_a_bookworm_container(tmp_path: Path) -> None:
    shared_bookworm()
    cell = Cell(id="test-vagrant-debian-sh", provisioner="docker", arch=HOST_ARCH,
                libc="glibc", backend="linux", suites=("uu",), image="debian:bookworm")
    src = tmp_path / "src"
    _stage_source(src)
    assert (src / "vagrant" / "provision" / "debian.sh").exists()
    with provisioner_for(cell, tmp_path / "logs") as p:
        p.put(src, "/vagrant")  # where the Vagrantfile syncs the checkout
        r = p.run("sh /vagrant/vagrant/provision/debian.sh", timeout_s=900)
    assert r.returncode == 0, r.output[-4000:]
    assert "deps: already installed" in r.output  # offline: no apt-get at all
    run = ktap.parse(r.output)
    assert run.complete and run.cases, r.output[-4000:]
    assert [c.name for c in run.cases if c.status != "pass"] == []
    assert r.output.rstrip().endswith("==> done: deps build test")


# --- the Debian 12 box built here, for real ----------------------------------------

#: one VM at a time: each boots under TCG on this 2-core machine
vagrant_group = pytest.mark.xdist_group("vagrant")
MATRIX = {c.id: c for c in load_matrix(ROOT / "ci" / "matrix.yaml")}
DEBIAN_VM = MATRIX["vagrant-debian12-x86_64"]
PRIVATE = ("10.", "192.168.", *(f"172.{n}." for n in range(16, 32)))


def net_state() -> tuple[set[str], set[str], set[str]]:
    """The host's links, bridges and addresses (`ip -o link`, `ip -o addr`)."""
    def ip(*args: str) -> list[str]:
        return subprocess.run(["ip", "-o", *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.splitlines()
    links = {line.split(":")[1].strip().split("@")[0] for line in ip("link", "show")}
    bridges = {line.split(":")[1].strip() for line in ip("link", "show", "type", "bridge")}
    addrs = {f"{f[1]} {f[3]}" for line in ip("addr", "show") if len(f := line.split()) > 3}
    return links, bridges, addrs


def assert_no_new_network(before: tuple[set[str], set[str], set[str]]) -> None:
    links, bridges, addrs = net_state()
    assert bridges == set(), f"a bridge exists on the host: {bridges}"
    assert links <= before[0], f"new links on the host: {links - before[0]}"
    assert addrs <= before[2], f"new addresses on the host: {addrs - before[2]}"
    private = [a for a in addrs if a.split()[1].startswith(PRIVATE)]
    assert private == [], f"private-range addresses on the host: {private}"


def _session_domains() -> str:
    """The domains of libvirt's session of the user that runs Vagrant."""
    who = box.run_as()
    env = who.env()
    return subprocess.run(who.argv(["virsh", "-c", "qemu:///session", "list", "--all",
                                    "--name"], env),
                          capture_output=True, text=True, timeout=120, env=env).stdout


def _domain(cell: Cell) -> str:
    p = provisioner_for(cell, Path(tempfile.mkdtemp(prefix="cse-vagrant-")))
    assert isinstance(p, VagrantProvisioner) and p.domain
    return p.domain


def _ready(cell: Cell, tmp_path: Path) -> None:
    """make test installs the provider and can build the box: a missing one
    fails, never skips."""
    why = provisioner_for(cell, tmp_path / "probe").unavailable()
    assert why is None, f"{cell.id} cannot run ({why}): run scripts/install-testbed-deps.sh"


@vagrant_group
def test_the_debian_vm_comes_up_runs_the_suites_and_is_destroyed(tmp_path: Path) -> None:
    before = net_state()
    assert before[1] == set(), f"a bridge exists before the test: {before[1]}"
    _ready(DEBIAN_VM, tmp_path)
    opts = RunOptions(report_dir=tmp_path / "report")
    r = run_cell(DEBIAN_VM, opts)
    d = cell_dir(opts.report_dir, DEBIAN_VM.id)
    assert (r.status, r.reason) == ("PASS", ""), (r.reason, r.logs)
    assert {n: s.status for n, s in r.suites.items()} == \
        {"build": "PASS", "uu": "PASS", "kk": "PASS", "uk": "PASS", "ku": "PASS"}
    for name in ("uu", "kk", "uk", "ku"):
        assert r.suites[name].tests, f"{name} ran no test"
    assert r.info["accelerator"] in ("tcg", "kvm") and r.info["kernel"].endswith("-amd64")
    console = (d / "console.log").read_text(errors="replace")
    assert "Linux version" in console and r.info["kernel"] in console
    assert {"vagrant-up", "vagrant-destroy", "console", "output"} <= set(r.logs)
    assert _domain(DEBIAN_VM) not in _session_domains()  # destroyed
    assert_no_new_network(before)


#: the U-U suite's program in the VM's cell script (a line of its own)
_UU_PROGRAM = re.compile(r"\S+/tests/cse-conformance$", re.M)
#: what runs instead: the real suite's first case, then one that fails
_FAILING_UU = ("sh -c \"echo 'KTAP version 1'; echo 1..2; echo 'ok 1 echo'; "
               "echo '# expected 0, got 4'; echo 'not ok 2 zero_length'; exit 1\"")


class _FailingUU(VagrantProvisioner):
    """The Debian VM, whose U-U suite fails inside it."""

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        swapped, n = _UU_PROGRAM.subn(lambda _: _FAILING_UU, script)
        assert n <= 1, script
        return super().run(swapped, timeout_s=timeout_s)


@vagrant_group
def test_a_suite_that_fails_in_the_vm_is_fail_code(tmp_path: Path) -> None:
    """The VM comes up and builds; its U-U suite runs and fails there: the
    cell is FAIL with culprit code (not a tool ERROR), the failing case
    named, and the VM is destroyed all the same."""
    _ready(DEBIAN_VM, tmp_path)
    cell = dataclasses.replace(DEBIAN_VM, id=f"{DEBIAN_VM.id}-failing", suites=("build", "uu"))
    opts = RunOptions(report_dir=tmp_path / "report")
    r = run_cell(cell, opts, _FailingUU)
    assert (r.status, r.culprit) == ("FAIL", "code"), (r.reason, r.logs)
    assert r.suites["build"].status == "PASS" and r.suites["uu"].status == "FAIL"
    assert {t.name: t.status for t in r.suites["uu"].tests} == \
        {"echo": "PASS", "zero_length": "FAIL"}
    assert "vagrant-destroy" in r.logs and _domain(cell) not in _session_domains()


_DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='{disk}'/>
    <target dev='vda' bus='virtio'/></disk></devices>
</domain>"""


@vagrant_group
def test_teardown_removes_the_vm_when_vagrant_destroy_fails(tmp_path: Path) -> None:
    """A cell's VM (a libvirt domain with its disk in the cell's pool) whose
    `vagrant destroy` fails for real, here because Vagrant cannot read the
    machine's id: teardown removes the domain and the disk itself, logs why,
    and leaves nothing behind."""
    _ready(DEBIAN_VM, tmp_path)
    cell = dataclasses.replace(DEBIAN_VM, id=f"{DEBIAN_VM.id}-teardown")
    p = provisioner_for(cell, tmp_path / "logs")
    assert isinstance(p, VagrantProvisioner)
    p.prepare()
    name = f"{p.domain}_default"
    disk = p.who.home / "images" / f"{name}.img"
    try:
        subprocess.run(p.who.argv(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"],
                                  p.who.env()), check=True, env=p.who.env())
        xml = p.state / "domain.xml"  # where Vagrant's user can read it
        xml.write_text(_DOMAIN_XML.format(name=name, disk=disk))
        assert p._virsh("define", str(xml)), "cannot define a domain in the session"
        uuid = p._virsh("domuuid", name).strip()
        ids = p.state / "machine" / "machines" / "default" / "libvirt"
        ids.mkdir(parents=True, exist_ok=True)
        (ids / "id").write_text(uuid)
        (ids / "id").chmod(0o000)  # root's, unreadable to Vagrant's user
        assert p._left_behind() == [f"domain {name}", f"disk {disk}"]
        p._up = True
        p.stop()
        log = (tmp_path / "logs" / "vagrant-destroy.log").read_text()
        assert "ermission denied" in log, log  # it did fail, and why is kept
        assert p._left_behind() == []
        assert not (p.state / "machine").exists()
    finally:
        p._virsh_remove()


def _broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> VagrantProvisioner:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cell = Cell(id="test-vagrant-broken", provisioner="vagrant", arch="x86_64", libc="glibc",
                backend="linux", suites=("uu",), image=DEBIAN_VM.image)
    _ready(cell, tmp_path)
    p = provisioner_for(cell, tmp_path / "logs")
    assert isinstance(p, VagrantProvisioner)
    return p


@vagrant_group
def test_a_vm_that_does_not_boot_is_a_tool_error_with_its_console(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot broken on purpose: no root file system, so no sshd ever."""
    before = net_state()
    p = _broken(tmp_path, monkeypatch, CSE_VAGRANT_BOOT_TIMEOUT="45",
                CSE_VAGRANT_CMDLINE="root=/dev/nothing-here rootdelay=1 console=ttyS0 "
                                    "panic=0 net.ifnames=0")
    try:
        p.prepare()
        with pytest.raises(ProvisionError) as e:
            p.start()
    finally:
        p.stop()
    assert e.value.culprit == "tool"
    assert "vagrant up failed" in str(e.value) and "console" in str(e.value)
    console = (tmp_path / "logs" / "console.log").read_text(errors="replace")
    assert "Linux version" in console and "nothing-here" in console
    assert p.domain and p.domain not in _session_domains()
    assert_no_new_network(before)


def test_ssh_refused_is_a_tool_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A VM whose sshd refuses (here: nothing listens on the port at all)."""
    cell = Cell(id="test-vagrant-refused", provisioner="vagrant", arch="x86_64",
                libc="glibc", backend="linux", suites=("uu",), image=DEBIAN_VM.image)
    p = provisioner_for(cell, tmp_path / "logs")
    assert isinstance(p, VagrantProvisioner)
    p.state = tmp_path / "state"
    p.state.mkdir()
    p.ssh_config = p.state / "ssh_config"
    from testbed.provision.vagrant.provisioner import free_port
    p.ssh_config.write_text(f"Host default\n  HostName 127.0.0.1\n  Port {free_port()}\n"
                            "  User vagrant\n  StrictHostKeyChecking no\n"
                            "  UserKnownHostsFile /dev/null\n  ConnectTimeout 10\n")
    with caplog.at_level(logging.WARNING), pytest.raises(ProvisionError) as e:
        p.run("true", timeout_s=30)
    assert e.value.culprit == "tool" and "Connection refused" in str(e.value)
    # it never connected, so it was tried again (a guest still settling), then given up
    retries = [r for r in caplog.records if "ssh could not connect" in r.getMessage()]
    assert len(retries) == SSH_CONNECT_TRIES - 1


def test_a_local_box_cell_skips_with_the_reason_when_a_tool_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make run on a machine without the provider: SKIP, saying what is missing."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("vagrant", "sh", "env", "runuser"):  # vagrant, and no libvirt nor QEMU
        if found := shutil.which(tool):
            (bare / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bare))
    why = provisioner_for(DEBIAN_VM, tmp_path / "logs").unavailable()
    assert why is not None and "libvirtd is not installed" in why
    assert "qemu-system-x86_64 is not installed" in why and "install-testbed-deps" in why
    r = run_cell(DEBIAN_VM, RunOptions(report_dir=tmp_path / "report"))
    assert r.status == "SKIP" and "libvirtd is not installed" in r.reason


def test_the_box_is_keyed_by_its_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recipe = tmp_path / "debian12.sh"
    recipe.write_text("echo one\n")
    monkeypatch.setattr(box, "BOX_DIR", tmp_path)
    first = box.box_name("cse/debian12")
    assert first.startswith("cse-debian12-")
    recipe.write_text("echo two\n")
    assert box.box_name("cse/debian12") != first


def test_a_vm_left_by_a_killed_run_is_destroyed_before_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cell of its own: the clean-up really removes its domain, and with
    # the Debian cell's id it destroyed that cell's VM while another worker
    # ran it (ssh cut mid-build, then vagrant destroy failing on the
    # vanished domain)
    cell = dataclasses.replace(DEBIAN_VM, id=f"{DEBIAN_VM.id}-leftover")
    p = provisioner_for(cell, tmp_path / "logs")
    assert isinstance(p, VagrantProvisioner)
    p.state = tmp_path / "state"
    left = p.state / "machine" / "machines" / "default" / "libvirt"
    left.mkdir(parents=True)
    (left / "id").write_text("some-uuid")
    calls: list[list[str]] = []
    monkeypatch.setattr(p, "_vagrant", lambda args, name, t: calls.append(args) or "")
    p._clean_leftovers()
    assert calls == [["destroy", "-f"]] and not (p.state / "machine").exists()
    p._clean_leftovers()  # nothing left: no vagrant call
    assert len(calls) == 1
