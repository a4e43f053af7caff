"""`pip install ./bindings/python` against an installed CSE: libcse and its
cse.pc from `meson install` (into a staging root, found with pkg-config),
the binding built by pip from a copy of the source, imported from where
pip put it, linked to the installed libcse (not the build tree's), and
working.  Without cse.pc the build stops with a message saying what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.builds import FLAVOURS, ROOT, meson_command

PIP_TIMEOUT_S = 600

SMOKE = r"""
import cse, pathlib, sys
print("module", cse.__file__)
print("libcse", [l.split()[-1] for l in open("/proc/self/maps") if "libcse.so" in l][0])
with cse.Server("pip-install-" + sys.argv[1], lambda conn, code, data: (7, bytes(data)[::-1])):
    with cse.Client("pip-install-" + sys.argv[1]) as c:
        print("reply", c.call(1, b"abc"))
"""


def _pip_install(src: Path, target: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "-q",
                           "--target", str(target), str(src)], capture_output=True, text=True,
                          timeout=PIP_TIMEOUT_S, env=env)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of bindings/python: pip builds in the source tree."""
    src = tmp_path_factory.mktemp("src") / "python"
    shutil.copytree(ROOT / "bindings/python", src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return src


def test_pip_install_against_installed_libcse(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    subprocess.run([*meson_command(), "install", "-C", str(FLAVOURS["linux"].builddir), "--destdir",
                    str(dest), "--quiet"], check=True, capture_output=True, text=True)
    pcs = list(dest.rglob("cse.pc"))
    assert len(pcs) == 1, pcs
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent), PKG_CONFIG_SYSROOT_DIR=str(dest))
    target = tmp_path / "site"
    r = _pip_install(source, target, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    run = subprocess.run([sys.executable, "-c", SMOKE, str(os.getpid())], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=str(target)))
    assert run.returncode == 0, run.stderr
    out = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert out["module"].startswith(str(target)), out
    assert out["libcse"].startswith(str(dest)), out  # the installed one, by its rpath
    assert out["reply"] == "Reply(status=7, data=b'cba', backup=0)"


def test_pip_install_without_libcse_says_what_to_do(source: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PKG_CONFIG_PATH=str(tmp_path / "nothing-here"),
               PKG_CONFIG_LIBDIR=str(tmp_path / "nothing-here"))
    r = _pip_install(source, tmp_path / "site", env)
    assert r.returncode != 0
    assert "pkg-config cannot find libcse" in r.stdout + r.stderr


def test_import_cse_is_the_binding_and_cse_the_testbed_command() -> None:
    """Two things named cse: `import cse` is the binding, also from the
    repository's root (where cse/ holds the C sources: a directory without
    __init__.py, which an installed package outranks), and the `cse`
    command in .venv/bin is the testbed's."""
    r = subprocess.run([sys.executable, "-c", "import cse; print(cse.Client.__module__)"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "cse._client", r.stderr
    cli = Path(sys.executable).with_name("cse")
    r = subprocess.run([str(cli), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "matrix" in r.stdout, r.stdout + r.stderr
