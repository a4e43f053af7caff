#!/usr/bin/env bash
# Install the Python binding (bindings/python, import name `cse`) into .venv,
# built with cffi against this tree's libcse: build/linux, found through its
# uninstalled pkg-config file; the extension keeps build/linux as its rpath,
# so it uses the library `make test` rebuilds there.  (Elsewhere, against an
# installed CSE: `pip install ./bindings/python`, libcse found by pkg-config.)
# Run by install-deps.sh; `make deps` re-runs it when the binding or cse.h
# changes.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m testbed build linux
# setuptools reuses bindings/python/build: start clean, or stale files ride along
rm -rf bindings/python/build
PKG_CONFIG_PATH="$PWD/build/linux/meson-uninstalled" \
	.venv/bin/python -m pip install -q ./bindings/python
# A check that it imports and links (and against which libcse).
.venv/bin/python -c 'import cse, cse._cse; print("install-binding: cse", cse.__version__, "->", cse._cse.__file__)'
touch .venv/.binding-stamp
