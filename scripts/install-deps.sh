#!/usr/bin/env bash
# Install everything `make run`, `make test` and `make bench` need on a fresh
# Debian 12 machine, then the Python environment in .venv.  Safe to re-run:
# apt is only called when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/apt-install.sh

need_apt=()
command -v meson >/dev/null || need_apt+=(meson)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# 32-bit builds (the m32 flavour) need the i386 C library, libgcc and the
# kernel's UAPI headers for -m32 (gcc-multilib's /usr/include/asm): check
# what the build includes, not an empty program.  Debian 12 removes
# gcc-multilib when any gcc-<arch>-linux-gnu cross compiler is installed; this
# project never installs one (zig cross-compiles, testbed/toolchains.py), and
# this check puts gcc-multilib back if something else took it away.
printf '#include <linux/types.h>\n#include <pthread.h>\nint main(void){return 0;}\n' |
	gcc -m32 -pthread -x c - -o /dev/null 2>/dev/null || need_apt+=(gcc-multilib)
# Other compilers and C libraries (clang + lld, musl), and qemu-user to run
# the other architectures' builds (without binfmt_misc: apt_install skips
# recommends, so qemu-user-binfmt is not installed).
command -v clang >/dev/null || need_apt+=(clang)
command -v ld.lld >/dev/null || need_apt+=(lld)
command -v musl-gcc >/dev/null || need_apt+=(musl-tools)
for q in qemu-aarch64 qemu-s390x qemu-ppc64; do
	command -v "$q" >/dev/null || { need_apt+=(qemu-user); break; }
done
# The sanitizer runtimes ship with gcc's libasan/libubsan/libtsan packages.
for lib in libasan.so libtsan.so libubsan.so; do
	gcc -print-file-name="$lib" 2>/dev/null | grep -q / || { need_apt+=(gcc); break; }
done

apt_install install-deps "${need_apt[@]}"

if [ ! -x .venv/bin/python ]; then
	echo "install-deps: creating .venv"
	python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev,bench]'
scripts/install-binding.sh
