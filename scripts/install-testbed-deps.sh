#!/usr/bin/env bash
# Install what the testbed's provisioners and reports need on a Debian 12
# machine: Docker (daemon started by the testbed itself), debootstrap for the
# images, an sshd for the ssh provisioner's loopback test, Vagrant (validate
# only: no box can be downloaded here) and Chromium for the HTML report check.
# Safe to re-run: apt is only called when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-install.sh

pkgs=(docker.io debootstrap openssh-server openssh-client vagrant chromium
	xz-utils tar)
need_apt=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		need_apt+=("$p")
done
apt_install install-testbed-deps "${need_apt[@]}"
