# Shared by the provisioning scripts (debian.sh, freebsd.sh), sourced from
# the synced source tree, since Vagrant uploads only the script it runs.
# The script defines SRC, PLATFORM, BUILD, say, die and its own deps step,
# then sources this file with the steps to run as its arguments.

build() {
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "build: meson setup $BUILD -Dplatform=$PLATFORM"
		meson setup "$BUILD" "$SRC" "-Dplatform=$PLATFORM"
	fi
	say "build: meson compile -C $BUILD"
	meson compile -C "$BUILD"
}

run_tests() {
	say "test: $BUILD/tests/cse-conformance"
	"$BUILD/tests/cse-conformance"
}

# The kernel modules, out of tree against the running kernel's own headers
# (Linux only: the script's deps step installs them), into $KBUILD.
modules() {
	[ "$(uname -s)" = Linux ] || die "modules: Linux only"
	say "modules: make -C $SRC/kernel/linux KVER=$(uname -r) OUT=$KBUILD"
	make -C "$SRC/kernel/linux" KVER="$(uname -r)" KDIR="/lib/modules/$(uname -r)/build" \
		OUT="$KBUILD"
}

# K-K: load cse.ko and cse_conformance.ko (which runs the in-kernel suite at
# load and prints its KTAP to the kernel log), then unload both; needs root.
# The testbed runs K-K, U-K and K-U itself (testbed/kernel_suites.py).
kernel_tests() {
	[ "$(id -u)" -eq 0 ] || die "kk: loading modules needs root"
	say "kk: insmod $KBUILD/cse.ko $KBUILD/cse_conformance.ko"
	dmesg -C
	insmod "$KBUILD/cse.ko"
	rc=0
	insmod "$KBUILD/cse_conformance.ko" || rc=$?
	dmesg | sed 's/^\[[ 0-9.]*\] //'
	rmmod cse_conformance 2>/dev/null || true
	rmmod cse
	[ "$rc" -eq 0 ] || die "kk: cse_conformance.ko failed to load ($rc)"
}

[ $# -gt 0 ] || set -- deps build test
for step in "$@"; do
	case $step in
	deps) deps ;;
	build) build ;;
	test) run_tests ;;
	modules) modules ;;
	kk) kernel_tests ;;
	*) die "unknown step '$step' (known: deps build test modules kk)" ;;
	esac
done
say "done: $*"
