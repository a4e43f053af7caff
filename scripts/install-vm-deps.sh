#!/usr/bin/env bash
# Install what the QEMU cells (testbed/provision/qemu/vm.py) need on a Debian 12 machine:
# QEMU, a Debian kernel with its headers (to build and load kernel modules in
# the VM), the tools virtme-ng runs inside the guest, and virtme-ng itself in
# .venv.  Safe to re-run: apt is only called when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-install.sh

# The guest boots on the host's own filesystem, so the tools it runs (busybox
# for virtme-ng's initramfs, kmod for insmod, udev for /dev, ...) are host
# packages.
# Two kernels: Debian 12's own 6.1 and the 6.12 it ships as well.  sparse is
# the kernel's own checker (make C=2), run on the modules by the tests.
# arm64: qemu-system-arm (qemu-system-aarch64); its kernels, headers, cross gcc
# and guest user space are Debian packages fetched into ~/.cache/cse, never
# installed (testbed/provision/qemu/kernel_debs.py, crossgcc.py, guest_root.py).  cpio reads
# back the initramfs archives in the tests.  mmdebstrap makes the chroots of
# the other releases' kernels (bullseye's 5.10, trixie's, sid's:
# testbed/provision/qemu/kchroot.py), each with its own gcc.  No gcc-<arch>-linux-gnu cross
# compiler here, ever: installing one removes gcc-multilib, and with it the
# -m32 build.
pkgs=(qemu-system-x86 qemu-system-arm linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64 dkms liburing-dev busybox-static
	kmod udev file iproute2 procps python3-venv sparse cpio mmdebstrap)
apt_install_missing install-vm-deps "${pkgs[@]}"

if [ ! -x .venv/bin/python ]; then
	echo "install-vm-deps: creating .venv"
	python3 -m venv .venv
fi
if [ ! -x .venv/bin/vng ]; then
	echo "install-vm-deps: pip install virtme-ng"
	.venv/bin/python -m pip install -q virtme-ng
fi
