"""Boot a kernel of another architecture in QEMU without virtme-ng and run a
script in it: the guest's user space is an initramfs (testbed/provision/qemu/guest_root.py),
the machine a testbed.provision.qemu.devices Device, the accelerator TCG.

The same contract as testbed.provision.qemu.vm.run_in_vm: the script (POSIX sh, as root)
sees the host files it names at their host paths (here: copies of @files in
the initramfs, read-only in spirit, nothing comes back), its output and the
kernel's console come back on the serial console, and the guest prints
CSE-VM-EXIT=<status> after it.  A VM that does not come up is a result with
returncode None and an error, never an exception.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from testbed.kmake import Kernel
from testbed.provision.qemu import guest_root
from testbed.provision.qemu.devices import Device, qemu_command
from testbed.provision.qemu.kernels import KernelSpec
from testbed.provision.qemu.vm import VmResult, run_booted

INSTALL_HINT = "run scripts/install-vm-deps.sh"
INITRD = "initrd.cpio"


def prepare(dev: Device, spec: KernelSpec, script: str | None, files: Iterable[Path],
            log_dir: Path) -> Path:
    """Write log_dir/guest.sh (for a person) and log_dir/initrd.cpio; return
    the latter.  @script None: the guest opens a shell on its console."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if script is not None:
        script += "\n"
        (log_dir / "guest.sh").write_text(script)
    return guest_root.initramfs(log_dir / INITRD, spec.suite, dev.deb_arch, script, files)


def run_in_vm(dev: Device, spec: KernelSpec, kernel: Kernel, script: str, *,
              files: Iterable[Path], timeout_s: int, log_dir: Path, memory: str = "1G",
              cpus: int = 2, silence_s: float | None = None) -> VmResult:
    """Boot @kernel on @dev with @files and @script in its initramfs; see the
    module doc.  Everything the console prints goes to log_dir/console.log."""
    log_dir = log_dir.resolve()
    initrd = prepare(dev, spec, script, files, log_dir)
    cmd = qemu_command(dev, kernel.vmlinuz, initrd, memory=memory, cpus=cpus)
    log = log_dir / "console.log"
    log.write_text(f"$ {shlex.join(cmd)}\n")
    res = run_booted(cmd, log, timeout_s=timeout_s, cwd=log_dir, silence_s=silence_s)
    if res.error:
        with log.open("a") as f:
            f.write(f"\ncse: {res.error}\n")
    return res


def shell_argv(dev: Device, spec: KernelSpec, kernel: Kernel, files: Iterable[Path],
               log_dir: Path, *, memory: str = "1G", cpus: int = 2) -> list[str]:
    """The QEMU argv of an interactive guest (a shell on the console; Ctrl-A x
    quits QEMU, `exit` powers the guest off)."""
    initrd = prepare(dev, spec, None, files, log_dir.resolve())
    return qemu_command(dev, kernel.vmlinuz, initrd, memory=memory, cpus=cpus,
                        serial="mon:stdio")
