"""Boot a kernel of another architecture in QEMU without virtme-ng and run a
script in it: the guest's user space is an initramfs (testbed/guest_root.py),
the machine a testbed.devices Device, the accelerator TCG.

The same contract as testbed.vm.run_in_vm: the script (POSIX sh, as root)
sees the host files it names at their host paths (here: copies of @files in
the initramfs, read-only in spirit, nothing comes back), its output and the
kernel's console come back on the serial console, and the guest prints
CSE-VM-EXIT=<status> after it.  A VM that does not come up is a result with
returncode None and an error, never an exception.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from testbed import guest_root
from testbed.devices import Device, qemu_command
from testbed.kernels import KernelSpec
from testbed.vm import _EXIT_RE, Kernel, VmResult, _copy_output

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
              cpus: int = 2) -> VmResult:
    """Boot @kernel on @dev with @files and @script in its initramfs; see the
    module doc.  Everything the console prints goes to log_dir/console.log."""
    log_dir = log_dir.resolve()
    initrd = prepare(dev, spec, script, files, log_dir)
    cmd = qemu_command(dev, kernel.vmlinuz, initrd, memory=memory, cpus=cpus)
    return run_qemu(cmd, log_dir / "console.log", timeout_s=timeout_s, cwd=log_dir)


def shell_argv(dev: Device, spec: KernelSpec, kernel: Kernel, files: Iterable[Path],
               log_dir: Path, *, memory: str = "1G", cpus: int = 2) -> list[str]:
    """The QEMU argv of an interactive guest (a shell on the console; Ctrl-A x
    quits QEMU, `exit` powers the guest off)."""
    initrd = prepare(dev, spec, None, files, log_dir.resolve())
    return qemu_command(dev, kernel.vmlinuz, initrd, memory=memory, cpus=cpus,
                        serial="mon:stdio")


def run_qemu(cmd: list[str], log: Path, *, timeout_s: int, cwd: Path) -> VmResult:
    """Run the QEMU @cmd (no shell), stream its console into @log, and read
    the guest's exit marker; killed (with anything it started) at @timeout_s."""
    log.write_text(f"$ {shlex.join(cmd)}\n")
    chunks: list[bytes] = []
    t0 = time.monotonic()
    timed_out, qemu_rc, error = False, None, ""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    except OSError as e:
        error = f"cannot start {cmd[0]} ({e}): {INSTALL_HINT}"
        with log.open("a") as f:
            f.write(error + "\n")
        return VmResult(None, "", log, time.monotonic() - t0, False, error)
    assert proc.stdout is not None
    reader = threading.Thread(target=_copy_output, args=(proc.stdout.fileno(), log, chunks),
                              daemon=True)
    reader.start()
    try:
        qemu_rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    reader.join(timeout=10)
    proc.stdout.close()
    duration = time.monotonic() - t0

    # the serial console is a terminal: the guest's lines end in \r\n
    output = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    marks = _EXIT_RE.findall(output)
    returncode = int(marks[-1]) if marks else None
    if timed_out:
        error = f"timed out after {timeout_s} s"
    elif returncode is None:
        error = f"the guest script never finished (qemu exit {qemu_rc}): see {log}"
    if error:
        with log.open("a") as f:
            f.write(f"\ncse: {error}\n")
    return VmResult(returncode, output, log, duration, timed_out, error)
