"""testbed.provision.qemu.kernels, kchroot and kmake: which release is a spec's kernel, the
host kernels it finds, the chroot kernels it fetches once into the cache,
and make run inside a chroot with its mounts gone afterwards.

The fetching tests use the real Debian mirror and the real chroot of the
5.10 kernel (the one `make test` boots anyway: fetched once, then cached),
and a mirror that refuses every connection for the outage."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from testbed import cache
from testbed.builds import ROOT
from testbed.kbuild import MakeSetupError, run_make
from testbed.kmake import ChrootMake, HostMake, Kernel
from testbed.matrix import load_matrix
from testbed.provision.qemu import kchroot, kernels
from testbed.provision.qemu.vm import run_in_vm
from testbed.runner import RunOptions, run_cell

BULLSEYE = kernels.find("debian:bullseye", "5.10", "x86_64")
SID = kernels.find("debian:sid", "newest", "x86_64")


def _spec(image: str, name: str) -> kernels.KernelSpec:
    spec = kernels.find(image, name, "x86_64")
    assert spec is not None, (image, name)
    return spec


def test_a_release_belongs_to_its_series_flavour_and_arch() -> None:
    generic, rt = _spec("debian:bookworm", "6.1"), _spec("debian:bookworm", "6.1-rt")
    assert generic.matches("6.1.0-57-amd64") and not generic.matches("6.1.0-57-rt-amd64")
    assert rt.matches("6.1.0-57-rt-amd64") and not rt.matches("6.1.0-57-amd64")
    assert not generic.matches("6.12.117+deb12-amd64")      # 6.12 is not 6.1
    assert not generic.matches("6.1.0-57-arm64")
    assert SID is not None and SID.matches("7.2.13+deb14-amd64")
    assert not SID.matches("7.2.13+deb14-cloud-amd64")      # another flavour
    assert not SID.matches("7.2.13+deb14-amd64-unsigned")


def test_every_kernel_has_a_cell_and_every_qemu_cell_a_kernel() -> None:
    cells = [c for c in load_matrix(ROOT / "ci/matrix.yaml") if c.provisioner == "qemu"]
    named = {kernels.find(c.image, c.kernel, c.arch) for c in cells}
    assert None not in named
    assert {s for s in kernels.KERNELS if s.arch == "x86_64"} <= named
    canary = [c for c in cells if c.image == "debian:sid"]
    assert canary and all(c.allow_failure and "canary" in c.tags for c in canary)


def _fake_root(tmp_path: Path, releases: dict[str, bool]) -> Path:
    """/boot/vmlinuz-<release> that are not kernels; with headers where True."""
    for release, headers in releases.items():
        (tmp_path / "boot").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"boot/vmlinuz-{release}").write_text("not a kernel\n")
        if headers:
            (tmp_path / f"usr/src/linux-headers-{release}").mkdir(parents=True)
    return tmp_path


def test_host_kernel_is_the_newest_of_the_series_and_flavour(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, {"6.1.0-9-amd64": True, "6.1.0-10-amd64": True,
                                 "6.1.0-11-amd64": False, "6.1.0-12-rt-amd64": True,
                                 "6.12.5+deb12-amd64": True})
    k = kernels.prepare(_spec("debian:bookworm", "6.1"), root=root)
    assert k.release == "6.1.0-10-amd64" and isinstance(k.make, HostMake)
    assert k.modules_dir == root / "lib/modules/6.1.0-10-amd64"
    assert kernels.prepare(_spec("debian:bookworm", "6.12"), root=root).release == \
        "6.12.5+deb12-amd64"
    with pytest.raises(kernels.FetchError, match="install-vm-deps.sh"):
        kernels.prepare(_spec("debian:bookworm", "6.12"), root=tmp_path / "empty")


def test_the_sid_chroot_reads_lists_past_their_valid_until() -> None:
    assert SID is not None and BULLSEYE is not None
    pkgs = kchroot.Packages("7.2.13+deb14-amd64", "linux-image-7.2.13+deb14-amd64=7.2.13-1",
                            "linux-headers-7.2.13+deb14-amd64=7.2.13-1")
    argv = kchroot.mmdebstrap_argv(SID, pkgs, Path("/t"))
    assert '--aptopt=Acquire::Check-Valid-Until "false"' in argv
    assert argv[-3:] == ["sid", "/t", "-"]
    assert not any("Valid-Until" in a for a in kchroot.mmdebstrap_argv(BULLSEYE, pkgs,
                                                                          Path("/t")))


def test_resolve_finds_the_newest_5_10_in_bullseyes_lists() -> None:
    assert BULLSEYE is not None
    pkgs = kchroot.resolve(BULLSEYE)
    assert BULLSEYE.matches(pkgs.release) and pkgs.release.startswith("5.10.0-")
    name, _, version = pkgs.image.partition("=")
    assert name == f"linux-image-{pkgs.release}" and version.startswith("5.10.")
    assert pkgs.headers.startswith(f"linux-headers-{pkgs.release}=5.10.")


@pytest.fixture(scope="module")
def bullseye() -> Kernel:
    assert BULLSEYE is not None
    return kernels.prepare(BULLSEYE)


def test_the_chroot_holds_kernel_modules_headers_and_its_gcc(bullseye: Kernel) -> None:
    assert isinstance(bullseye.make, ChrootMake)
    root = bullseye.make.root
    assert bullseye.vmlinuz.is_file() and bullseye.vmlinuz.is_relative_to(root)
    assert (bullseye.modules_dir / "modules.dep").is_file()
    assert list(bullseye.modules_dir.rglob("9p.ko*")), "virtme-ng mounts the root over 9p"
    assert (bullseye.headers / "Makefile").is_file()
    assert bullseye.make.path(bullseye.headers) == Path(f"/usr/src/linux-headers-"
                                                        f"{bullseye.release}")
    assert (root / "usr/bin/gcc-10").exists()         # bullseye's compiler, not ours
    assert not (root / f"boot/initrd.img-{bullseye.release}").exists()


def test_a_second_prepare_builds_nothing(bullseye: Kernel,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args: object) -> None:
        raise AssertionError("the cached chroot was built again")
    monkeypatch.setattr(kchroot, "_build", no_build)
    assert BULLSEYE is not None
    assert kernels.prepare(BULLSEYE) == bullseye
    entry = bullseye.make.root  # type: ignore[union-attr]
    assert cache.problem(entry, entry.name.rsplit("-", 1)[1]) is None


def _mounts() -> str:
    return Path("/proc/self/mounts").read_text()


def test_make_in_the_chroot_leaves_no_mount_behind(bullseye: Kernel, tmp_path: Path) -> None:
    assert isinstance(bullseye.make, ChrootMake)
    root = str(bullseye.make.root)
    # a make that fails inside the chroot: the mounts go all the same
    proc = subprocess.run(bullseye.make.argv(["-C", str(tmp_path), "no-such-target"],
                                             binds=(tmp_path,)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "No rule to make target" in proc.stderr, proc.stderr
    assert root not in _mounts()


def test_a_chroot_make_cannot_enter_is_a_setup_error(tmp_path: Path) -> None:
    """Not a build failure (culprit code): the runner reports it as a tool."""
    broken = Kernel("5.10.0-0-amd64", tmp_path / "boot/vmlinuz", tmp_path / "usr/src/h",
                    make=ChrootMake(tmp_path))
    with pytest.raises(MakeSetupError, match="cse-chroot-make: "):
        run_make(broken, tmp_path / "out")


#: a Debian mirror that refuses every connection
DOWN = "http://127.0.0.1:9/debian"


def test_a_kernel_that_cannot_be_fetched_is_a_tool_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mirror down and nothing cached: the cell is ERROR (tool), never FAIL."""
    monkeypatch.setenv("CSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSE_DEBIAN_MIRROR", DOWN)
    cell = next(c for c in load_matrix(ROOT / "ci/matrix.yaml")
                if c.id == "qemu-debian11-5.10-x86_64")
    r = run_cell(cell, RunOptions(report_dir=tmp_path / "report"))
    assert (r.status, r.culprit) == ("ERROR", "tool"), r.reason
    assert r.reason.startswith("cannot fetch the bullseye-5.10-x86_64 kernel: the bullseye "
                               "package lists cannot be read, and no 5.10 kernel of it is "
                               "cached: apt-get update"), r.reason
    assert "Failed to fetch" in r.reason
    # a failed update does not pass for fresh lists: the next lookup tries again
    assert not list((tmp_path / "cache/apt").glob("*/updated"))


def test_with_the_mirror_down_the_cached_kernel_is_used(bullseye: Kernel, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / kchroot.KIND).symlink_to(cache.cache_root() / kchroot.KIND)
    monkeypatch.setenv("CSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CSE_DEBIAN_MIRROR", DOWN)
    said: list[str] = []
    assert BULLSEYE is not None
    got = kernels.prepare(BULLSEYE, said.append)
    assert got.release == bullseye.release
    assert got.vmlinuz.resolve() == bullseye.vmlinuz.resolve()  # through the link
    assert said and said[0].startswith("cannot look up the bullseye-5.10-x86_64 kernel")


@pytest.mark.vm
def test_a_kernel_away_from_its_modules_says_why_it_does_not_boot(bullseye: Kernel,
                                                                   tmp_path: Path) -> None:
    """The console only shows a panic; the error adds where the modules were looked for."""
    (tmp_path / "boot").mkdir()
    alone = tmp_path / "boot" / bullseye.vmlinuz.name
    shutil.copy(bullseye.vmlinuz, alone)
    r = run_in_vm(Kernel(bullseye.release, alone, bullseye.headers), "true", timeout_s=240,
                  log_dir=tmp_path / "vm")
    assert r.returncode is None, r.error
    assert "Kernel panic - not syncing: VFS: Unable to mount root" in r.error, r.error
    assert f"no modules for {bullseye.release} at /lib/modules/{bullseye.release}" in r.error
