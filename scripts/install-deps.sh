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
# 32-bit builds (the m32 flavour) need the i386 C library and libgcc.
echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null ||
	need_apt+=(gcc-multilib)
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
.venv/bin/python -m pip install -q -e '.[dev]'
