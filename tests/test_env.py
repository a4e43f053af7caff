"""env.h, the module environment, as a module author meets it: every function
it declares (and cse.h's) is exported by cse.ko, and its user-space log keeps
debug lines back unless CSE_DEBUG is set.  What each call does is checked in
both worlds by the env_* conformance scenarios (tests/conformance/
env_scenarios.c: U-U in every flavour through tests/test_c_suites.py, K-K and
K-U in the VMs of tests/test_kernel.py)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from testbed.builds import FLAVOURS, ROOT
from testbed.hostbuild import build_lock
from testbed.kbuild import build_modules
from testbed.provision.qemu import kernels

HEADERS = ROOT / "cse/include/cse"


def _declared(header: str) -> set[str]:
    """The cse_ functions a public header declares (not its static inlines)."""
    text = (HEADERS / header).read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return {m for m in re.findall(r"^(?!static)[\w \*]*?\b(cse_\w+)\(", text, re.M)}


def test_env_h_declares_the_environment() -> None:
    env = _declared("env.h")
    assert env >= {"cse_alloc", "cse_zalloc", "cse_free", "cse_mutex_create",
                   "cse_mutex_lock", "cse_event_wait", "cse_thread_start", "cse_thread_join",
                   "cse_pool_create", "cse_pool_submit", "cse_pool_destroy", "cse_now_ns",
                   "cse_sleep_ms", "cse_log", "cse_snprintf"}
    # the header is what a module includes: the runtime's private layer stays out
    includes = re.findall(r"^#include (\S+)", (HEADERS / "env.h").read_text(), re.M)
    assert "<cse/os.h>" not in includes and "<cse/atomic.h>" in includes


@pytest.mark.vm
def test_cse_ko_exports_every_function_of_env_h_and_cse_h() -> None:
    spec = kernels.find("debian:bookworm", "6.1", "x86_64")
    assert spec is not None
    kernel = kernels.prepare(spec)
    with build_lock(f"kernel-{kernel.release}"):  # the VM tests build it too
        moddir = build_modules(kernel)
    exported = {}
    for line in (moddir / "Module.symvers").read_text().splitlines():
        _, name, module, kind, *_ = line.split("\t")
        exported[name] = (module.rsplit("/", 1)[-1], kind)
    for header in ("env.h", "cse.h"):
        for name in sorted(_declared(header)):
            assert exported.get(name) == ("cse", "EXPORT_SYMBOL_GPL"), f"{header}: {name}"
    # and the example module was linked against them
    assert (moddir / "kvstore" / "kvstore.ko").is_file()


def test_module_log_debug_lines_need_cse_debug() -> None:
    conf = FLAVOURS["linux"].builddir / "tests/cse-conformance"
    line = "# env_format: a debug line (hidden unless enabled)"
    env = {k: v for k, v in os.environ.items() if k != "CSE_DEBUG"}
    quiet = subprocess.run([str(conf), "env_format"], capture_output=True, text=True,
                           timeout=60, env=env)
    loud = subprocess.run([str(conf), "env_format"], capture_output=True, text=True,
                          timeout=60, env=env | {"CSE_DEBUG": "1"})
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stdout + loud.stdout
    # the scenario's log lines go into its KTAP (the starter sends stderr there)
    assert line not in quiet.stdout and line in loud.stdout.splitlines()
