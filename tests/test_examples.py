"""The README's client and server example compiles against the built library
and works; the README shows the files as they are."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from testbed.builds import FLAVOURS, ROOT

EXAMPLES = ROOT / "examples"


def _compile(src: Path, out: Path, libdir: Path, *extra: str) -> None:
    subprocess.run(
        ["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", *extra,
         "-I", str(ROOT / "cse/include"), str(src), "-o", str(out), "-L", str(libdir), "-lcse",
         f"-Wl,-rpath,{libdir}"],
        check=True, capture_output=True, text=True)


@pytest.mark.parametrize("fl,client_fl", [("linux", "linux"), ("emulated", "emulated"),
                                          ("linux", "m32")],
                         ids=["linux", "emulated", "64-bit-server-32-bit-client"])
def test_example_client_and_server(fl: str, client_fl: str, tmp_path: Path) -> None:
    libdir, client_libdir = FLAVOURS[fl].builddir, FLAVOURS[client_fl].builddir
    for d in (libdir, client_libdir):
        if not (d / "libcse.so").exists():
            pytest.fail(f"{d}/libcse.so missing: run `make test`")
    server, client = tmp_path / "upper_server", tmp_path / "upper_client"
    _compile(EXAMPLES / "upper_server.c", server, libdir)
    _compile(EXAMPLES / "upper_client.c", client, client_libdir,
             *(["-m32"] if client_fl == "m32" else []))

    sid = f"example-{fl}-{os.getpid()}"
    proc = subprocess.Popen([str(server), sid], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "serving"
        out = subprocess.run([str(client), sid, "hello, kernel"], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "HELLO, KERNEL"
        missing = subprocess.run([str(client), sid + "-nobody", "x"], capture_output=True,
                                 text=True, timeout=30)
        assert missing.returncode == 1 and "no such server" in missing.stderr
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_readme_shows_the_examples() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("upper_server.c", "upper_client.c"):
        body = (EXAMPLES / name).read_text().strip()
        assert body in readme, f"README's copy of examples/{name} is out of date"
