"""The QEMU machines as data (testbed/provision/qemu/devices.py) and the pieces that turn a
foreign-arch kernel into a bootable, buildable one: the QEMU command line,
the Debian kernel packages' names and fixes (testbed/provision/qemu/kernel_debs.py) and the
unpacked cross gcc (testbed/provision/qemu/crossgcc.py).  Pure functions, no VM."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from testbed.provision.qemu import crossgcc, devices, kernel_debs, kernels
from testbed.provision.qemu.kernels import KernelSpec

ARM64 = devices.for_arch("arm64")
SPEC_61 = KernelSpec("debian:bookworm", "6.1", "", "arm64", "debs")


def test_every_qemu_kernel_has_a_device() -> None:
    for spec in kernels.KERNELS:
        dev = devices.for_arch(spec.arch)
        # a kernel of another arch than the host's cannot use the host's root
        assert (dev.userspace == "initramfs") == (spec.source == "debs"), spec


def test_unknown_arch_names_the_table() -> None:
    with pytest.raises(devices.UnknownDevice,
                       match="testbed/provision/qemu/devices.py.*x86_64, arm64"):
        devices.for_arch("riscv64")


def test_arm64_command_is_a_printable_argv() -> None:
    cmd = devices.qemu_command(ARM64, Path("/k/vmlinuz-6.1.0-57-arm64"), Path("/l/initrd.cpio"),
                               memory="1G", cpus=2)
    assert all(isinstance(a, str) for a in cmd)
    assert cmd[0] == "qemu-system-aarch64"

    def opt(flag: str) -> str:
        return cmd[cmd.index(flag) + 1]

    assert opt("-machine") == "virt" and opt("-cpu").startswith("max")
    assert opt("-accel") == "tcg" and opt("-serial") == "stdio"
    assert opt("-kernel") == "/k/vmlinuz-6.1.0-57-arm64"
    assert opt("-initrd") == "/l/initrd.cpio"
    append = opt("-append")
    assert "console=ttyAMA0" in append and "panic=-1" in append
    assert "-no-reboot" in cmd and "-nodefaults" in cmd
    assert shlex.split(shlex.join(cmd)) == cmd  # --show-command-able


def test_x86_boots_with_virtme_not_an_initramfs() -> None:
    x86 = devices.for_arch("x86_64")
    assert x86.userspace == "host" and x86.console == "ttyS0"
    with pytest.raises(ValueError, match="virtme-ng"):
        devices.qemu_command(x86, Path("k"), Path("i"))


def test_shell_serial_is_multiplexed() -> None:
    cmd = devices.qemu_command(ARM64, Path("k"), Path("i"), serial="mon:stdio")
    assert cmd[cmd.index("-serial") + 1] == "mon:stdio"


# --- Debian's kernel packages ---------------------------------------------------------
def test_metapackages_most_specific_first() -> None:
    assert kernel_debs.metapackages(SPEC_61) == ["linux-image-6.1-arm64", "linux-image-arm64"]
    rt = KernelSpec("debian:trixie", "6.12", "rt", "arm64", "debs")
    assert kernel_debs.metapackages(rt) == ["linux-image-6.12-rt-arm64", "linux-image-rt-arm64"]


@pytest.mark.parametrize(("package", "series", "release"), [
    ("linux-image-6.1.0-57-arm64", "6.1", "6.1.0-57-arm64"),
    ("linux-image-6.12.117+deb12-arm64", "6.12", "6.12.117+deb12-arm64"),
    ("linux-image-6.12.117+deb12-arm64", "6.1", None),      # 6.12 is not of 6.1
    ("linux-image-6.1.0-57-cloud-arm64", "6.1", None),      # another flavour
    ("linux-image-6.1.0-57-rt-arm64", "6.1", None),
    ("linux-image-6.1.0-57-arm64-unsigned", "6.1", None),
    ("linux-headers-6.1.0-57-arm64", "6.1", None),
])
def test_release_of_an_image_package(package: str, series: str, release: str | None) -> None:
    spec = KernelSpec("debian:bookworm", series, "", "arm64", "debs")
    assert kernel_debs.release_of(package, spec) == release


def test_release_of_a_flavour() -> None:
    rt = KernelSpec("debian:bookworm", "6.1", "rt", "arm64", "debs")
    assert kernel_debs.release_of("linux-image-6.1.0-57-rt-arm64", rt) == "6.1.0-57-rt-arm64"
    assert kernel_debs.release_of("linux-image-6.1.0-57-arm64", rt) is None


def test_deb_version_from_the_file_name() -> None:
    assert kernel_debs.deb_version(Path("linux-headers-6.1.0-57-arm64_6.1.192-3_arm64.deb")) \
        == "6.1.192-3"
    assert kernel_debs.deb_version(Path("busybox-static_1%3a1.35.0-4_arm64.deb")) == "1:1.35.0-4"
    with pytest.raises(kernel_debs.KernelDebError):
        kernel_debs.deb_version(Path("weird.deb"))


def _headers_tree(root: Path, release: str, kvars: str) -> Path:
    flavour = root / "usr/src" / f"linux-headers-{release}"
    common = root / "usr/src" / "linux-headers-x-common"
    flavour.mkdir(parents=True)
    common.mkdir(parents=True)
    (common / "Makefile").write_text("all:\n\t@echo common-makefile-reached\n")
    (flavour / "Makefile").write_text("include /usr/src/linux-headers-x-common/Makefile\n"
                                      "override ARCH = arm64\n")
    (flavour / ".kernelvariables").write_text(kvars)
    mods = root / "lib/modules" / release
    mods.mkdir(parents=True)
    (mods / "build").symlink_to(f"/usr/src/linux-headers-{release}")
    return flavour


def test_fix_tree_makes_the_headers_work_where_they_are(tmp_path: Path) -> None:
    release = "6.12.1+deb12-arm64"
    flavour = _headers_tree(tmp_path, release,
                            "CC = $(CROSS_COMPILE)gcc-12\n"
                            "override CROSS_COMPILE = aarch64-linux-gnu-\n"
                            "DEBIAN_KERNEL_NO_CC_VERSION_CHECK = y\n")
    kernel_debs.fix_tree(tmp_path, release)
    # make reaches the -common Makefile beside it, not /usr/src
    proc = subprocess.run(["make", "-s", "-C", str(flavour)], capture_output=True, text=True)
    assert proc.stdout.strip() == "common-makefile-reached", proc.stderr
    kvars = (flavour / ".kernelvariables").read_text()
    assert "CROSS_COMPILE =" not in kvars and "gcc-12" in kvars  # ours comes from make's args
    link = tmp_path / "lib/modules" / release / "build"
    assert not os.readlink(link).startswith("/") and link.resolve() == flavour.resolve()


def test_fix_tree_refuses_an_unknown_layout(tmp_path: Path) -> None:
    flavour = _headers_tree(tmp_path, "r", "")
    (flavour / "Makefile").write_text("include ../elsewhere/Makefile\n")
    with pytest.raises(kernel_debs.KernelDebError, match="no absolute include"):
        kernel_debs.fix_tree(tmp_path, "r")


# --- the cross gcc ---------------------------------------------------------------------
@pytest.mark.parametrize(("text", "major"), [
    ('CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"\n', 12),
    ('CONFIG_CC_VERSION_TEXT="aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"\n', 12),
    ('CONFIG_X=y\nCONFIG_CC_VERSION_TEXT="gcc-14 (Debian 14.2.0-19) 14.2.0"\n', 14),
])
def test_gcc_major_from_the_kernel_config(text: str, major: int) -> None:
    assert crossgcc.gcc_major(text) == major


@pytest.mark.parametrize("text", ['CONFIG_CC_VERSION_TEXT="Debian clang version 16.0.6"\n',
                                  "CONFIG_X=y\n"])
def test_gcc_major_refuses_other_compilers(text: str) -> None:
    with pytest.raises(crossgcc.ToolchainError):
        crossgcc.gcc_major(text)


def test_cross_packages_never_the_multilib_breaker() -> None:
    pkgs = crossgcc.packages("arm64", 12)
    assert pkgs == ["gcc-12-aarch64-linux-gnu", "cpp-12-aarch64-linux-gnu",
                    "gcc-12-aarch64-linux-gnu-base", "binutils-aarch64-linux-gnu"]
    # gcc-aarch64-linux-gnu (unversioned) is what conflicts with gcc-multilib
    assert "gcc-aarch64-linux-gnu" not in pkgs


def test_wrapper_runs_the_tool_with_its_libraries(tmp_path: Path) -> None:
    """bin/<tool> execs ../usr/bin/<tool> by a path relative to itself, with
    the unpacked library folder first on LD_LIBRARY_PATH."""
    entry = tmp_path / "entry"
    (entry / "usr/bin").mkdir(parents=True)
    (entry / "bin").mkdir()
    real = entry / "usr/bin/aarch64-linux-gnu-nm"
    real.write_text('#!/bin/sh\necho "$0|$LD_LIBRARY_PATH|$*"\n')
    real.chmod(0o755)
    wrapper = entry / "bin/aarch64-linux-gnu-nm"
    wrapper.write_text(crossgcc.wrapper("aarch64-linux-gnu-nm", "usr/lib/x86_64-linux-gnu"))
    wrapper.chmod(0o755)
    moved = tmp_path / "moved"
    entry.rename(moved)  # the cache may move: nothing absolute inside
    proc = subprocess.run([str(moved / "bin/aarch64-linux-gnu-nm"), "-a", "b c"],
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, LD_LIBRARY_PATH="/old"))
    argv0, libpath, args = proc.stdout.strip().split("|")
    assert Path(argv0).resolve() == (moved / "usr/bin/aarch64-linux-gnu-nm").resolve()
    assert libpath.split(":")[-1] == "/old"
    assert Path(libpath.split(":")[0]).resolve() == (moved / "usr/lib/x86_64-linux-gnu")
    assert args == "-a b c"
