"""The QEMU machines the kernel cells boot, as data (like tuxrun's devices):
one Device per matrix arch.  A new architecture is a new entry, not a branch
in the runner.

    dev = devices.for_arch("arm64")
    argv = devices.qemu_command(dev, vmlinuz, initrd, memory="1G", cpus=2)

How the guest gets its user space (`userspace`):
  host       virtme-ng boots the host's own root over 9p (vm.py): only
             for kernels of the host's architecture; vng builds the command
             line, and machine/cpu/console here say what it picks
  initramfs  the guest's own Debian user space in an initramfs
             (guest_root.py), QEMU started directly (vm_direct.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Userspace = Literal["host", "initramfs"]


@dataclass(frozen=True)
class Device:
    """One QEMU machine a Debian kernel boots in."""

    #: matrix arch
    arch: str
    #: Debian's name for it (packages of the guest's user space)
    deb_arch: str
    qemu: str
    machine: str
    cpu: str
    #: the kernel's console device: where the script's output comes back
    console: str
    userspace: Userspace
    #: the kernel image in the image package's /boot
    image: str = "vmlinuz-{release}"
    #: accelerators to try in order (TCG always works; KVM only for the host's arch)
    accels: tuple[str, ...] = ("tcg",)

    def image_name(self, release: str) -> str:
        return self.image.format(release=release)


DEVICES: dict[str, Device] = {d.arch: d for d in (
    # what vng picks under TCG (virtme/architectures.py); with KVM, -cpu host
    Device("x86_64", "amd64", "qemu-system-x86_64", "q35", "max", "ttyS0", "host",
           accels=("kvm", "tcg")),
    # -cpu max: every feature TCG emulates (PAC, BTI, LSE atomics, SVE, ...),
    # so the module runs on the instructions a recent arm64 server has.
    # pauth-impdef: Debian's kernels sign every return address, and QEMU's
    # architected pointer-auth hash (QARMA5) is slow under TCG: the
    # implementation-defined one keeps PAC on and boots in 3-4 s instead of 9-12
    Device("arm64", "arm64", "qemu-system-aarch64", "virt", "max,pauth-impdef=on", "ttyAMA0",
           "initramfs"),
)}


class UnknownDevice(LookupError):
    """No QEMU machine is described for an arch."""


def for_arch(arch: str) -> Device:
    try:
        return DEVICES[arch]
    except KeyError:
        raise UnknownDevice(f"no QEMU device for arch {arch} in testbed/provision/qemu/devices.py "
                            f"(known: {', '.join(DEVICES)})") from None


def kernel_cmdline(dev: Device) -> str:
    """The kernel command line of an initramfs boot.

    panic=-1 reboots at once on a panic, and -no-reboot turns the reboot
    into QEMU's exit: a dead kernel ends the run instead of hanging it.
    watchdog_thresh=60 (the most it takes): under TCG the guest's clock is
    the host's, so a vCPU thread the busy host does not run for 20 s looked
    like a soft lockup of the idle task ("CPU#1 stuck for 29s!
    [swapper/1:0]" with four VMs on this 2-core machine).  A real lockup is
    still reported, after 120 s, well inside a suite's timeout.
    """
    return f"console={dev.console} rdinit=/init panic=-1 watchdog_thresh=60"


def qemu_command(dev: Device, kernel: Path, initrd: Path, *, memory: str = "1G",
                 cpus: int = 2, accel: str = "tcg", append: str = "",
                 serial: str = "stdio") -> list[str]:
    """The argv that boots @kernel with the initramfs @initrd on @dev, its
    console on QEMU's @serial (stdio; mon:stdio for a person, Ctrl-A x
    quits).  No network device, no disk: the guest lives in its initramfs and
    talks on the console."""
    if dev.userspace != "initramfs":
        raise ValueError(f"the {dev.arch} device boots with virtme-ng, not an initramfs")
    cmdline = kernel_cmdline(dev) + (f" {append}" if append else "")
    return [dev.qemu, "-machine", dev.machine, "-cpu", dev.cpu, "-accel", accel,
            "-m", memory, "-smp", str(cpus), "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", serial, "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]
