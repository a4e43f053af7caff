#!/bin/sh
# Provision a FreeBSD developer VM for CSE, in steps:
#   deps   install the build dependencies with pkg (nothing when they are
#          installed already); the compiler is the base system's clang
#   build  configure (once) and compile the runtime and its tests with meson
#   test   run the U-U conformance suite (KTAP on stdout; fails if any fails)
#
# The backend is FreeBSD's own (platforms/freebsd: _umtx_op, sealed memfd,
# kqueue; FreeBSD 14 or later), built natively with the meson options the
# cross builds use; CSE_PLATFORM=emulated builds the POSIX-only one.
#
# Usage: freebsd.sh [STEP...]           (default: deps build test)
# Environment:
#   CSE_SRC       the CSE source tree (default /vagrant, the synced folder)
#   CSE_PLATFORM  the user-space backend, freebsd or emulated (default freebsd)
#   CSE_BUILD     the meson build dir (default /var/tmp/cse-build-$CSE_PLATFORM)
set -eu

SRC=${CSE_SRC:-/vagrant}
PLATFORM=${CSE_PLATFORM:-freebsd}
BUILD=${CSE_BUILD:-/var/tmp/cse-build-$PLATFORM}
PACKAGES="meson ninja pkgconf"

say() { printf '==> %s\n' "$*"; }
die() { printf 'freebsd.sh: %s\n' "$*" >&2; exit 1; }

deps() {
	missing=""
	for p in $PACKAGES; do
		pkg info -e "$p" || missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		say "deps: already installed: $PACKAGES"
	else
		[ "$(id -u)" -eq 0 ] || die "deps: installing$missing needs root"
		say "deps: pkg install$missing"
		# shellcheck disable=SC2086 # one word per package
		env ASSUME_ALWAYS_YES=yes pkg install -y $missing
	fi
}

# build and test, and running the steps, come from the source tree itself.
[ -f "$SRC/vagrant/provision/steps.sh" ] ||
	die "no CSE source tree in $SRC: set CSE_SRC to it"
. "$SRC/vagrant/provision/steps.sh"
