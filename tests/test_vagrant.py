"""The Vagrant developer VMs: the Vagrantfiles validate, the provisioner says
why it cannot run here, and vagrant/provision/debian.sh really builds CSE and
passes the conformance suite, inside a bookworm container of the docker
provisioner (no box can be downloaded here, and no VM provider installed)."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from test_images import docker_group, shared_bookworm

from testbed import ktap
from testbed.builds import ROOT
from testbed.matrix import Cell, load_matrix
from testbed.provision import provisioner_for
from testbed.provision.base import ProvisionError
from testbed.provision.vagrant.provisioner import VAGRANT_DIR, vagrant_env, vagrantfile_dir

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
                if c.provisioner == "vagrant")
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
