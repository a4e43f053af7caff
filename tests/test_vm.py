"""testbed.provision.qemu.vm: the vng command builder, kernel discovery, and one real boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.provision.qemu.vm import (
    Kernel,
    VmError,
    boot_failure,
    debian_kernels,
    default_kernel,
    run_in_vm,
    vng_command,
    vng_modules_dir,
)

KERNEL = Kernel("6.1.0-99-amd64", Path("/boot/vmlinuz-6.1.0-99-amd64"),
                Path("/usr/src/linux-headers-6.1.0-99-amd64"))


def test_vng_command_tcg() -> None:
    cmd = vng_command(KERNEL, "uname -r; exit 3", kvm=False)
    assert all(isinstance(a, str) for a in cmd)
    assert Path(cmd[0]).name == "vng"
    assert cmd[cmd.index("--run") + 1] == "/boot/vmlinuz-6.1.0-99-amd64"
    assert cmd[cmd.index("--exec") + 1] == "uname -r; exit 3"  # one argv item, no shell
    assert cmd[cmd.index("--user") + 1] == "root"
    assert cmd[cmd.index("--memory") + 1] == "1G"
    assert cmd[cmd.index("--cpus") + 1] == "2"
    assert "--disable-kvm" in cmd and "--verbose" in cmd
    assert "--rw" not in cmd
    assert not {"sh", "bash", "-c"} & set(cmd)


def test_vng_command_kvm_and_options() -> None:
    cmd = vng_command(KERNEL, "true", memory="2G", cpus=1, rw=True,
                      rwdirs=(Path("/tmp/out"),), kvm=True)
    assert "--disable-kvm" not in cmd
    assert cmd[cmd.index("--memory") + 1] == "2G"
    assert cmd[cmd.index("--cpus") + 1] == "1"
    assert "--rw" in cmd and "--rwdir=/tmp/out" in cmd


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def test_debian_kernels(tmp_path: Path) -> None:
    for rel in ("6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-11-amd64", "5.10.0-30-amd64"):
        _touch(tmp_path / f"boot/vmlinuz-{rel}")
    (tmp_path / "usr/src/linux-headers-6.1.0-9-amd64").mkdir(parents=True)
    (tmp_path / "lib/modules/6.1.0-10-amd64/build").mkdir(parents=True)
    (tmp_path / "usr/src/linux-headers-5.10.0-30-amd64").mkdir(parents=True)
    # 6.1.0-11 has no headers: not usable for module builds.
    assert [k.release for k in debian_kernels(tmp_path)] == [
        "5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64"]
    k = default_kernel(tmp_path)
    assert k.release == "6.1.0-10-amd64"
    assert k.vmlinuz == tmp_path / "boot/vmlinuz-6.1.0-10-amd64"
    assert k.headers == tmp_path / "lib/modules/6.1.0-10-amd64/build"


def test_default_kernel_missing(tmp_path: Path) -> None:
    with pytest.raises(VmError, match="install-vm-deps.sh"):
        default_kernel(tmp_path)


def test_unbootable_kernel_is_a_result(tmp_path: Path) -> None:
    bogus = tmp_path / "vmlinuz-bogus"
    bogus.write_text("not a kernel\n")
    r = run_in_vm(Kernel("bogus", bogus, tmp_path), "true", timeout_s=60, log_dir=tmp_path)
    assert r.returncode is None and not r.timed_out and r.error
    assert r.console_log.read_text().strip()
    assert "the console says: qemu: invalid kernel header" in r.error  # the real reason


def test_boot_failure_picks_the_telling_line() -> None:
    console = ("[    2.31] VFS: Cannot open root device \"(null)\" or unknown-block(0,0)\n"
               "[    2.32] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
               "[    2.33] Call Trace:\n")
    assert boot_failure(console) == "Kernel panic - not syncing: VFS: Unable to mount root fs"
    assert boot_failure("qemu-system-x86_64: -accel kvm: failed to initialize kvm\n") == \
        "qemu-system-x86_64: -accel kvm: failed to initialize kvm"
    assert boot_failure("[ 1.0] virtme-ng-init: cannot mount /proc\n") == \
        "virtme-ng-init: cannot mount /proc"
    assert boot_failure("[ 1.0] all is well\nCSE-VM-EXIT=0\n") == ""


def test_vng_takes_modules_from_beside_the_image(tmp_path: Path) -> None:
    chroot = tmp_path / "chroot"
    (chroot / "boot").mkdir(parents=True)
    (chroot / "lib/modules/5.10.0-1-amd64").mkdir(parents=True)
    k = Kernel("5.10.0-1-amd64", chroot / "boot/vmlinuz-5.10.0-1-amd64", tmp_path)
    assert vng_modules_dir(k) == chroot / "lib/modules/5.10.0-1-amd64"
    assert vng_modules_dir(KERNEL) == Path("/lib/modules/6.1.0-99-amd64")


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


@pytest.mark.vm
def test_boot(tmp_path: Path) -> None:
    kernel = default_kernel()  # raises, naming the install script, when missing
    r = run_in_vm(kernel, "uname -r; id -u; exit 3", timeout_s=240, log_dir=tmp_path)
    log = r.console_log.read_text() if r.console_log.exists() else "(no console log)"
    assert r.returncode == 3, (f"VM run failed: {r.error or f'exit {r.returncode}'} "
                               f"after {r.duration_s:.0f} s\n{_tail(log)}")
    assert kernel.release in r.output
    assert "\n0\n" in r.output.replace("\r", "")  # id -u: the guest runs as root
    assert r.console_log.exists()
