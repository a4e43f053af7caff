"""`meson install` gives a usable library: headers under include/cse (the API,
and the module environment: env.h, atomic.h, module.h; never the private
os.h), libcse.so and a cse.pc with which the README's example and the
kvstore module build, link and run."""

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
    headers = {p.name for p in (prefix / "include/cse").iterdir()}
    assert headers == {"cse.h", "abi.h", "env.h", "atomic.h", "module.h"}
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

    # A module written for both worlds, from the installed headers alone,
    # with the strict flags: its script runs against the installed library.
    kv = ROOT / "examples/kvstore"
    server, client = tmp_path / "kvstore-server", tmp_path / "kvstore-client"
    for exe, srcs in ((server, ["server.c", "store.c"]),
                      (client, ["client.c", "kvclient.c", "script.c", "mixed.c", "bench.c"])):
        subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                        *(str(kv / src) for src in srcs), "-o", str(exe), *flags],
                       check=True, capture_output=True, text=True)
    lib_env = dict(os.environ, LD_LIBRARY_PATH=str(libs[0].parent))
    sid = f"install-kv-{os.getpid()}"
    srv = subprocess.Popen([str(server), sid], env=lib_env, stderr=subprocess.DEVNULL)
    try:
        run = subprocess.run([str(client), sid, "script"], capture_output=True, text=True,
                             timeout=300, env=lib_env)
        assert run.returncode == 0 and "# kvstore client: 0 of 14 cases failed" in run.stderr, \
            run.stderr[-3000:]
    finally:
        srv.terminate()
        assert srv.wait(timeout=30) == 0
