#!/usr/bin/env bash
# Install what the testbed's provisioners and reports need on a Debian 12
# machine: Docker (daemon started by the testbed itself), debootstrap for the
# images, an sshd for the ssh provisioner's loopback test, Vagrant with
# vagrant-libvirt, libvirt's daemon and QEMU for the developer VM (its box is
# built by vagrant/box/debian12.sh with mmdebstrap), and Chromium for the
# HTML report check.  Safe to re-run: apt is only called when something is
# missing.
#
# libvirt: only the daemon binary and its QEMU driver (libvirt-daemon,
# libvirt-daemon-driver-qemu), never libvirt-daemon-system or
# libvirt-daemon-config-network: no system daemon is installed or started, so
# libvirt's default network (a bridge, virbr0, on 192.168.122.0/24) never
# exists.  The testbed runs libvirt in qemu:///session, a daemon per user
# started by its first client; as root it runs Vagrant as the unprivileged
# user cse-vagrant, created here.  The host's links and addresses are
# compared before and after: a new bridge or address fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-install.sh

net_state() { { ip -o link show; ip -o addr show; } 2>/dev/null | sed 's/ \+/ /g' | sort; }
before=$(net_state)

pkgs=(docker.io debootstrap openssh-server openssh-client vagrant chromium
	xz-utils tar
	vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	qemu-system-x86 qemu-utils mmdebstrap e2fsprogs rsync)
apt_install_missing install-testbed-deps "${pkgs[@]}"

for forbidden in libvirt-daemon-system libvirt-daemon-config-network; do
	if dpkg-query -W -f='${Status}' "$forbidden" 2>/dev/null | grep -q 'install ok installed'; then
		echo "install-testbed-deps: $forbidden is installed: it brings libvirt's system daemon" \
			"and its default network (a bridge); the testbed never uses it" >&2
	fi
done
# Should a default network be defined by someone else, it must not autostart.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml 2>/dev/null || true

user=cse-vagrant
if [ "$(id -u)" -eq 0 ] && ! getent passwd "$user" >/dev/null; then
	echo "install-testbed-deps: useradd $user (runs Vagrant and libvirt's session for root)"
	useradd --system --home-dir "/var/lib/$user" --create-home --shell /usr/sbin/nologin "$user"
fi
if [ "$(id -u)" -eq 0 ] && getent group kvm >/dev/null && ! id -nG "$user" | grep -qw kvm; then
	usermod -a -G kvm "$user"
fi

after=$(net_state)
if [ "$before" != "$after" ]; then
	echo "install-testbed-deps: the host's links or addresses changed:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
