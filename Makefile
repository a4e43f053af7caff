# The two commands of the README, plus the benchmark.  Each installs what it
# needs first (scripts/install-deps.sh), so they work on a fresh Debian 12.
PY := .venv/bin/python
JOBS ?= 2

.PHONY: all deps vm-deps testbed-deps build run test bench stress lint clean

all: build

deps: .venv/.deps-stamp .venv/.binding-stamp

.venv/.deps-stamp: scripts/install-deps.sh pyproject.toml
	scripts/install-deps.sh
	touch $@ .venv/.binding-stamp

# The Python binding (installed by install-deps.sh too): again when it or the
# C API it is compiled against changes.
BINDING_SRC := $(wildcard bindings/python/*.py bindings/python/pyproject.toml \
	bindings/python/src/cse/*.[pch]* bindings/python/src/cse/py.typed) \
	cse/include/cse/cse.h cse/include/cse/abi.h
.venv/.binding-stamp: scripts/install-binding.sh $(BINDING_SRC)
	scripts/install-binding.sh

# QEMU, virtme-ng and the Debian kernels the VM tests boot (idempotent).
vm-deps: deps
	scripts/install-vm-deps.sh

# Docker, debootstrap, sshd, Vagrant and Chromium for the testbed (idempotent).
testbed-deps: deps
	scripts/install-testbed-deps.sh

build: deps
	$(PY) -m testbed build linux emulated

# The main job: `cse run` on the default matrix (ci/matrix.yaml): every cell
# provisioned (this host, Debian containers, QEMU VMs), its suites run, and
# report/ written (matrix.json, junit/, matrix.md, matrix.html).
run: deps vm-deps testbed-deps
	.venv/bin/cse run -j $(JOBS)

# Everything: every build flavour `make test` checks (testbed/builds.py TESTED:
# linux, emulated, 32-bit, ASan/UBSan, TSan, clang, musl, arm64, s390x and
# ppc64 under qemu-user; BUILD_ONLY: FreeBSD x86_64 and arm64), their C tests,
# the kernel modules in VMs, the Python tests, lint.  JUnit: report/tests.xml.
test: deps vm-deps testbed-deps
	$(PY) -m testbed build
	$(PY) -m ruff check testbed tests bench bindings
	mkdir -p report
	$(PY) -m pytest -n $(JOBS) --dist loadgroup --junitxml=report/tests.xml

bench: deps vm-deps
	$(PY) -m testbed build linux
	$(PY) bench/run.py --build build/linux --python --vm

stress: deps
	$(PY) -m testbed build linux emulated
	$(PY) tests/stress/run.py

lint: deps
	$(PY) -m ruff check testbed tests bench bindings

clean:
	rm -rf build report
