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

[ $# -gt 0 ] || set -- deps build test
for step in "$@"; do
	case $step in
	deps) deps ;;
	build) build ;;
	test) run_tests ;;
	*) die "unknown step '$step' (known: deps build test)" ;;
	esac
done
say "done: $*"
