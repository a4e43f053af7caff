#!/bin/sh
# Provision a Debian developer VM (or container) for CSE, in steps:
#   deps   install the build dependencies with apt; nothing (not even
#          `apt-get update`) when they are all installed already, so the
#          script also runs offline, e.g. in the testbed's --network none
#          containers whose images carry them
#   build  configure (once) and compile the runtime and its tests with meson
#   test   run the U-U conformance suite (KTAP on stdout; fails if any fails)
#   modules  build cse.ko and the conformance modules against the running
#          kernel's headers (in a VM: deps installs them)
#   kk     load them: the K-K suite's KTAP from the kernel log (root)
#
# Usage: debian.sh [STEP...]            (default: deps build test)
# Environment:
#   CSE_SRC       the CSE source tree (default /vagrant, the synced folder)
#   CSE_PLATFORM  the user-space backend, linux or emulated (default linux)
#   CSE_BUILD     the meson build dir (default /var/tmp/cse-build-$CSE_PLATFORM:
#                 outside the source tree, which the host may share or sync)
set -eu

SRC=${CSE_SRC:-/vagrant}
PLATFORM=${CSE_PLATFORM:-linux}
BUILD=${CSE_BUILD:-/var/tmp/cse-build-$PLATFORM}
KBUILD=${CSE_KBUILD:-/var/tmp/cse-kernel}
PACKAGES="gcc libc6-dev meson ninja-build pkg-config"
# a VM (not a container, whose kernel is the host's): the headers of its kernel
if [ -d "/lib/modules/$(uname -r)/kernel" ] && ! grep -q docker /proc/1/cgroup 2>/dev/null &&
	[ ! -f /.dockerenv ]; then
	PACKAGES="$PACKAGES make linux-headers-$(uname -r)"
fi
MESON_MIN=0.63 # meson.build's meson_version

say() { printf '==> %s\n' "$*"; }
die() { printf 'debian.sh: %s\n' "$*" >&2; exit 1; }

missing_packages() {
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			printf '%s ' "$p"
	done
}

deps() {
	missing=$(missing_packages)
	if [ -z "$missing" ]; then
		say "deps: already installed: $PACKAGES"
	else
		[ "$(id -u)" -eq 0 ] || die "deps: installing $missing needs root"
		say "deps: apt-get install $missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		# shellcheck disable=SC2086 # one word per package
		apt-get install -y -q --no-install-recommends $missing
	fi
	v=$(meson --version)
	dpkg --compare-versions "$v" ge "$MESON_MIN" ||
		die "deps: meson $v is older than $MESON_MIN (Debian 11 ships 0.56): use Debian 12 or later, or install bookworm's meson"
}

# build and test, and running the steps, come from the source tree itself.
[ -f "$SRC/vagrant/provision/steps.sh" ] ||
	die "no CSE source tree in $SRC: set CSE_SRC to it"
. "$SRC/vagrant/provision/steps.sh"
