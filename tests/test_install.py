"""`meson install` gives a usable library: headers under include/cse, libcse.so
and a cse.pc with which the README's example builds and links."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testbed.builds import FLAVOURS, ROOT, meson_command


def test_install_headers_library_and_pkgconfig(tmp_path: Path) -> None:
    bdir = FLAVOURS["linux"].builddir
    dest = tmp_path / "dest"
    # the Meson that configured the build dir (PyPI's, in .venv) installs it
    subprocess.run([*meson_command(), "install", "-C", str(bdir), "--destdir", str(dest),
                    "--quiet"], check=True, capture_output=True, text=True)
    prefix = dest / "usr/local"
    assert (prefix / "include/cse/cse.h").is_file()
    assert (prefix / "include/cse/abi.h").is_file()
    pcs = list(prefix.rglob("cse.pc"))
    libs = list(prefix.rglob("libcse.so"))
    assert len(pcs) == 1 and len(libs) == 1

    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "cse"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()
    out = tmp_path / "client"
    subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", str(ROOT / "examples/upper_client.c"),
                    "-o", str(out), *flags], check=True, capture_output=True, text=True)
    # Runs against the installed library and reports a missing server cleanly.
    run = subprocess.run([str(out), f"no-such-server-{os.getpid()}", "x"], capture_output=True,
                         text=True, timeout=30,
                         env=dict(os.environ, LD_LIBRARY_PATH=str(libs[0].parent)))
    assert run.returncode == 1 and "no such server" in run.stderr
