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
apt_install_missing install-testbed-deps "${pkgs[@]}"
