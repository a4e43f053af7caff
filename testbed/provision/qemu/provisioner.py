"""The `qemu` provisioner: a Debian kernel booted in the QEMU machine of the
cell's arch (testbed/provision/qemu/devices.py).

The cell names its kernel by release, series and flavour (testbed.provision.qemu.kernels);
prepare() fetches it when it is not here (a chroot of its release, or
another arch's Debian packages, cached) and the runner builds the modules
the way the kernel says make runs for it.

x86_64 boots with virtme-ng (testbed/provision/qemu/vm.py): the guest shares this host's
filesystem, so the runner builds on the host and the guest runs the binaries
and modules in place.  Another arch (arm64) boots with its own Debian user
space in an initramfs (testbed/provision/qemu/vm_direct.py), with the cell's build dir and
module dir copied in at their host paths: the same script runs in both.  The
guest runs the script as root and is gone when the script ends: every run()
is one boot (TCG; KVM where the host has a usable /dev/kvm of the same arch).
A boot that never reaches the script is a ProvisionError (culprit tool); a
script that starts and then never finishes (hang, panic) is a result with
returncode None, for the runner to blame on the suite that was running.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import ClassVar

from testbed.hostbuild import host_flavour
from testbed.kbuild import module_dir
from testbed.kmake import Kernel
from testbed.matrix import Cell
from testbed.provision.base import CommandResult, Provisioner, ProvisionError, copy_on_host
from testbed.provision.qemu import PLUGIN, devices, guest_root, kernels, vm_direct
from testbed.provision.qemu.vm import INSTALL_HINT, boot_failure, kvm_usable, run_in_vm, vng_command
from testbed.provision.qemu.vm import vng_path as _vng_path

#: printed first by every script this provisioner runs: the VM reached it
STARTED = "CSE-QEMU-SCRIPT-STARTED"
#: cell arch -> host machines whose QEMU boots the Debian kernels installed here
_BOOTS_ON = {"x86_64": ("x86_64", "amd64")}


class QemuProvisioner(Provisioner):
    """One VM boot per run() of the cell's kernel (testbed.provision.qemu.kernels)."""

    name: ClassVar[str] = "qemu"
    capabilities = PLUGIN.capabilities
    shares_host_fs: ClassVar[bool] = True
    memory: ClassVar[str] = "1G"
    cpus: ClassVar[int] = 2
    #: where kernels installed on the host are looked for (/boot, /usr/src,
    #: /lib/modules); a chroot kernel's are in its chroot
    root: ClassVar[Path] = Path("/")

    def __init__(self, cell: Cell, logdir: Path) -> None:
        super().__init__(cell, logdir)
        self._kernel: Kernel | None = None
        self.device = devices.DEVICES.get(cell.arch)
        self.spec = kernels.find(cell.image, cell.kernel, cell.arch)

    @property
    def kernel(self) -> Kernel:
        """The kernel this cell boots (set by prepare())."""
        if self._kernel is None:
            raise ProvisionError("qemu provisioner: prepare() was not called",
                                 culprit="harness")
        return self._kernel

    def unavailable(self) -> str | None:
        # Only what cannot be fixed by installing packages: a missing kernel
        # or QEMU is an ERROR (prepare), so CI never skips the VM cells silently.
        machine = platform.machine()
        if platform.system() != "Linux":
            return f"virtme-ng boots Linux kernels on a Linux host; this is {platform.system()}"
        if self.device is None:
            return f"no QEMU machine for {self.cell.arch} in testbed/provision/qemu/devices.py"
        if self.device.userspace == "host" and machine not in _BOOTS_ON.get(self.cell.arch, ()):
            return f"this host is {machine}: its Debian kernels are not {self.cell.arch}"
        return None

    def _initramfs(self) -> bool:
        return self.device is not None and self.device.userspace == "initramfs"

    def prepare(self) -> None:
        spec = self.spec
        if spec is None:  # the matrix checks this when it loads
            raise ProvisionError(f"no kernel {self.cell.kernel!r} of {self.cell.image} for "
                                 f"{self.cell.arch} in testbed/provision/qemu/kernels.py",
                                 culprit="harness")
        log = self.logdir / "kernel.log"

        def say(line: str) -> None:  # what fetching the kernel did, for the cell's logs
            with log.open("a") as f:
                f.write(line + "\n")
            self.logs["kernel"] = log

        try:
            kernel = kernels.prepare(spec, say, root=self.root)
        except kernels.FetchError as e:
            raise ProvisionError(f"cannot fetch the {spec.label} kernel: {e}", culprit="tool",
                                 log=e.log) from e
        if self._initramfs():
            self._prepare_guest_root()
            self._kernel = kernel
            return
        for tool, path in (("vng (virtme-ng)", _vng_path()),
                           ("qemu-system-x86_64", shutil.which("qemu-system-x86_64"))):
            if path is None or not Path(path).exists():
                raise ProvisionError(f"{tool} not found: {INSTALL_HINT}", culprit="tool")
        self._kernel = kernel

    def _prepare_guest_root(self) -> None:
        """Another arch's guest: its QEMU and its Debian user space (cached)."""
        assert self.device is not None and self.spec is not None  # the matrix checked it
        if shutil.which(self.device.qemu) is None:
            raise ProvisionError(f"{self.device.qemu} not found: {INSTALL_HINT}", culprit="tool")
        try:
            guest_root.base(self.spec.suite, self.device.deb_arch)
        except guest_root.GuestRootError as e:
            raise ProvisionError(str(e), culprit="tool") from e

    def guest_files(self) -> list[Path]:
        """What an initramfs guest gets of this host: the cell's build dir and
        module dir (built by the runner before run()), at their host paths."""
        tops = [host_flavour(self.cell).builddir, module_dir(self.kernel.release)]
        return [f for top in tops if top.is_dir() for f in guest_root.guest_files(top)]

    def module_kernel(self) -> Kernel:
        return self.kernel

    def facts(self) -> dict[str, str]:
        return {"kernel_release": self.kernel.release, "accel": self.accel()}

    def start(self) -> None:
        """Nothing to start: each run() boots the VM."""
        self.kernel  # noqa: B018 - raises if prepare() was skipped

    def accel(self) -> str:
        return "kvm" if not self._initramfs() and kvm_usable() else "tcg"

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        script = f"echo {STARTED}\n{script}"
        if self._initramfs():
            assert self.device is not None and self.spec is not None
            try:
                res = vm_direct.run_in_vm(self.device, self.spec, self.kernel, script,
                                          files=self.guest_files(), timeout_s=int(timeout_s),
                                          log_dir=self.logdir, memory=self.memory,
                                          cpus=self.cpus, silence_s=self.max_silence_s)
            except guest_root.GuestRootError as e:
                raise ProvisionError(str(e), culprit="tool") from e
        else:
            res = run_in_vm(self.kernel, script, timeout_s=int(timeout_s),
                            log_dir=self.logdir, memory=self.memory, cpus=self.cpus,
                            silence_s=self.max_silence_s)
        self.logs["console"] = res.console_log
        start = res.output.find(f"{STARTED}\n")
        if start < 0:
            why = res.error or boot_failure(res.output) or f"exit {res.returncode}"
            raise ProvisionError(
                f"the {self.kernel.release} VM never reached the script ({why}; "
                f"{self.accel()}): see {res.console_log}", culprit="tool",
                log=res.console_log)
        output = res.output[start + len(STARTED) + 1:]
        return CommandResult(res.returncode, output, res.duration_s, res.timed_out, res.error,
                             stalled=res.stalled)

    def put(self, src: Path, dest: str) -> None:
        # The guest sees the host's files: copying on the host is copying into the cell.
        copy_on_host(src, Path(dest))

    def get(self, src: str, dest: Path) -> None:
        copy_on_host(Path(src), dest)

    def stop(self, *, keep: bool = False) -> None:
        """Nothing to stop: the VM ended with its script.  `cse shell` boots a
        new one of the same kernel (@keep has nothing to keep)."""

    def shell_argv(self) -> list[str]:
        if self._initramfs():
            assert self.device is not None and self.spec is not None
            return vm_direct.shell_argv(self.device, self.spec, self.kernel,
                                        self.guest_files(), self.logdir, memory=self.memory,
                                        cpus=self.cpus)
        cmd = vng_command(self.kernel, "true", memory=self.memory, cpus=self.cpus)
        # without --exec vng opens a shell; without --verbose the kernel's
        # console does not scroll over it
        cmd = [a for a in cmd[:cmd.index("--exec")] if a != "--verbose"]
        # vng runs its helpers (virtme-run) from PATH, as run_in_vm arranges
        path = f"{_vng_path().parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return ["env", f"PATH={path}", *cmd]
