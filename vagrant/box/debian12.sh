#!/bin/sh
# Build the Debian 12 Vagrant box for the libvirt provider, offline from
# Debian's packages, with nothing downloaded from a box server:
#
#   debian12.sh OUT
#
# OUT gets:
#   box.img, metadata.json, Vagrantfile   the box, in vagrant-libvirt's format
#                                         (`tar -cf x.box` of the three, then
#                                         `vagrant box add --name NAME x.box`)
#   vmlinuz, initrd.img                   the box's own kernel (Debian's
#                                         linux-image-amd64) for a direct
#                                         kernel boot: no bootloader in the image
#   key, key.pub                          the `vagrant` user's ssh key pair,
#                                         made here for this box (never
#                                         Vagrant's public insecure key)
#   release                               the kernel release (uname -r)
#
# The root file system: mmdebstrap → ext4 (mkfs.ext4 -d) → qcow2.  It has
# openssh-server, sudo (the `vagrant` user without a password), rsync for
# Vagrant's synced folder, and what the provisioning script's deps step
# wants (../provision/debian.sh), plus the kernel's headers and make, so
# that the VM builds CSE and its modules against its own kernel offline.
# The network: DHCP on eth0 (net.ifnames=0 on the kernel command line).
#
# The testbed caches OUT by a hash of this file (testbed/provision/vagrant/box.py):
# an edit here builds a new box.  Needs root (mmdebstrap --mode=root).
set -eu

OUT=${1:?usage: debian12.sh OUT}
SUITE=bookworm
SIZE=8G
HOSTNAME=cse-debian
PACKAGES="linux-image-amd64 linux-headers-amd64 openssh-server sudo rsync \
ca-certificates kmod iproute2 ifupdown isc-dhcp-client procps \
gcc libc6-dev make meson ninja-build pkg-config"

say() { printf '==> debian12.sh: %s\n' "$*"; }
die() { printf 'debian12.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root, mkfs.ext4 -d keeps owners)"
for tool in mmdebstrap mkfs.ext4 qemu-img ssh-keygen; do
	command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-testbed-deps.sh)"
done

mkdir -p "$OUT"
root="$OUT/root"
rm -rf "$root"
trap 'rm -rf "$root" "$OUT/raw.img"' EXIT

say "ssh key pair"
rm -f "$OUT/key" "$OUT/key.pub"
ssh-keygen -q -t ed25519 -N '' -C "cse-vagrant-box" -f "$OUT/key"

say "mmdebstrap $SUITE"
# shellcheck disable=SC2086 # one word per package
mmdebstrap --variant=important --mode=root --include="$(echo $PACKAGES | tr ' ' ,)" \
	--customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo vagrant' \
	--customize-hook='echo "vagrant ALL=(ALL) NOPASSWD: ALL" >"$1/etc/sudoers.d/vagrant" && chmod 440 "$1/etc/sudoers.d/vagrant"' \
	--customize-hook="echo $HOSTNAME >\"\$1/etc/hostname\" && printf '127.0.0.1 localhost\n127.0.1.1 $HOSTNAME\n' >\"\$1/etc/hosts\"" \
	--customize-hook='printf "auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n" >"$1/etc/network/interfaces"' \
	--customize-hook='echo "/dev/vda / ext4 defaults,noatime 0 1" >"$1/etc/fstab"' \
	--customize-hook='printf "UseDNS no\n" >"$1/etc/ssh/sshd_config.d/cse.conf"' \
	--customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer' \
	"$SUITE" "$root"

say "the vagrant user's key"
uid=$(chroot "$root" id -u vagrant)
install -d -m 700 -o "$uid" -g "$uid" "$root/home/vagrant/.ssh"
install -m 600 -o "$uid" -g "$uid" "$OUT/key.pub" "$root/home/vagrant/.ssh/authorized_keys"

say "kernel"
set -- "$root"/boot/vmlinuz-*
[ $# -eq 1 ] && [ -f "$1" ] || die "expected one kernel in /boot, found: $*"
release=${1##*/vmlinuz-}
cp "$root/boot/vmlinuz-$release" "$OUT/vmlinuz"
cp "$root/boot/initrd.img-$release" "$OUT/initrd.img"
[ -d "$root/lib/modules/$release/build" ] || die "no headers for $release in the image"
echo "$release" >"$OUT/release"

say "ext4 ($SIZE) → qcow2"
rm -f "$OUT/raw.img"
truncate -s "$SIZE" "$OUT/raw.img"
mkfs.ext4 -q -F -L cse-root -d "$root" "$OUT/raw.img"
qemu-img convert -O qcow2 "$OUT/raw.img" "$OUT/box.img"

virtual_gb=${SIZE%G}
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$virtual_gb" \
	>"$OUT/metadata.json"
cat >"$OUT/Vagrantfile" <<'EOF'
# The box's own defaults (vagrant/box/debian12.sh): the rest comes from
# vagrant/common.rb, which boots its kernel directly.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
say "done: $OUT (kernel $release)"
