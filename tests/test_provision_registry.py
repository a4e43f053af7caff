"""The one registry of provisioners (testbed/provision/registry.py) and what
the base class does for all of them (testbed/provision/base.py).

A provisioner is a folder of testbed/provision/ declaring a PLUGIN: the
matrix keys it owns, its capabilities and its class.  These tests check
that every folder is found, that each plugin and its class agree, that the
matrix asks the plugin about its keys, and that a new folder is all a new
provisioner takes.  The base's streamed run is run for real.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import testbed.provision as provision_package
from testbed.matrix import MatrixError, load_matrix
from testbed.provision import base, registry
from testbed.provision.base import Provisioner

FOLDERS = sorted(p.parent.name for p in Path(provision_package.__file__).parent.glob(
    "*/__init__.py"))


def test_every_folder_is_a_plugin() -> None:
    assert FOLDERS == ["docker", "local", "qemu", "ssh", "vagrant"]
    assert list(registry.names()) == FOLDERS


@pytest.mark.parametrize("name", FOLDERS)
def test_plugin_and_class_agree(name: str) -> None:
    plugin = registry.plugin(name)
    cls = plugin.load()
    assert issubclass(cls, Provisioner) and cls.name == name
    assert cls.capabilities is plugin.capabilities
    # the class lives in the plugin's own folder, nowhere else
    assert cls.__module__.startswith(f"testbed.provision.{name}.")


def test_capabilities_choose_the_kernel_cells() -> None:
    assert registry.with_capability("kernel_suites") == ("qemu", "vagrant")
    assert set(registry.with_capability("keep")) == {"docker", "vagrant"}
    with pytest.raises(LookupError, match="no provisioner 'lxc'; known: docker, local"):
        registry.plugin("lxc")


def _matrix(tmp_path: Path, cell: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("cells:\n  - {id: c, arch: x86_64, libc: glibc, backend: linux, "
                    f"suites: [uu], {cell}}}\n")
    return path


@pytest.mark.parametrize(("cell", "why"), [
    ("provisioner: local, image: 'debian:bookworm'",
     "key 'image': a key of docker, qemu, ssh, vagrant cells, not of local cells"),
    ("provisioner: docker, ssh: {host: b}", "key 'ssh': a key of ssh cells, not of docker"),
    ("provisioner: docker", "key 'image': missing: docker cells need an image"),
    ("provisioner: local, colour: red",
     "key 'colour': unknown key; known: id, provisioner, arch, libc, backend, suites, "
     "os, compiler, tags, allow_failure, skip_reason, kernel, and for local cells: none"),
])
def test_the_matrix_asks_the_plugin_about_its_keys(tmp_path: Path, cell: str, why: str) -> None:
    with pytest.raises(MatrixError, match=why):
        load_matrix(_matrix(tmp_path, cell))


_NEW_PLUGIN = '''
from testbed.provision.registry import Capabilities, Plugin


def _check(raw, fail, base):
    if not isinstance(raw.get("board"), str):
        raise fail("board", "missing: the board to flash")
    return {"image": raw["board"], "settings": (("board", raw["board"]),)}


PLUGIN = Plugin(name="flashed", capabilities=Capabilities(kernel_suites=True),
                provisioner="cse_test_flashed.provisioner:Flashed", keys=("board",),
                check=_check)
'''


@pytest.fixture
def new_folder(tmp_path: Path) -> Iterator[None]:
    """A provisioner folder `flashed` added beside the others, for one test."""
    folder = tmp_path / "plugins" / "flashed"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(_NEW_PLUGIN)
    provision_package.__path__.append(str(folder.parent))
    registry.plugins.cache_clear()
    try:
        yield
    finally:
        provision_package.__path__.remove(str(folder.parent))
        sys.modules.pop("testbed.provision.flashed", None)
        registry.plugins.cache_clear()


def test_a_new_provisioner_is_a_new_folder(new_folder: None, tmp_path: Path) -> None:
    assert "flashed" in registry.names()
    assert registry.with_capability("kernel_suites") == ("flashed", "qemu", "vagrant")
    (cell,) = load_matrix(_matrix(tmp_path, "provisioner: flashed, board: rpi4"))
    assert (cell.image, cell.setting("board")) == ("rpi4", "rpi4")
    with pytest.raises(MatrixError, match="key 'board': missing: the board to flash"):
        load_matrix(_matrix(tmp_path, "provisioner: flashed"))


# --- the base's shared run -----------------------------------------------------

def test_run_streamed_keeps_the_output_and_the_status(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    res = base.run_streamed(["sh", "-c", "echo one; echo two >&2; exit 3"], log, 30)
    assert (res.returncode, res.output, res.timed_out, res.stalled) == \
        (3, "one\ntwo\n", False, False)
    assert log.read_text() == "one\ntwo\n"


def test_run_streamed_kills_at_the_timeout(tmp_path: Path) -> None:
    t0 = time.monotonic()
    res = base.run_streamed(["sh", "-c", "echo start; while :; do echo tick; sleep 0.2; done"],
                            tmp_path / "out.log", 2, silence_s=60)
    assert res.returncode is None and res.timed_out and not res.stalled
    assert time.monotonic() - t0 < 15 and res.output.startswith("start\ntick")


def test_run_streamed_kills_what_went_quiet(tmp_path: Path) -> None:
    """A VM whose console says nothing for longer than any suite may has
    stopped answering: killed then, long before the cell's timeout."""
    t0 = time.monotonic()
    res = base.run_streamed(["sh", "-c", "echo booted; sleep 120"], tmp_path / "out.log", 100,
                            silence_s=2)
    assert res.returncode is None and res.stalled and not res.timed_out
    assert "printed nothing for 2 s" in res.error and res.output == "booted\n"
    assert time.monotonic() - t0 < 15


def test_kill_at_and_script_result() -> None:
    assert base.kill_at(12.5) == "timeout -s KILL 12.500"
    assert base.kill_at(12.2, whole_seconds=True, grace_s=1) == "timeout -s KILL 14"
    killed = base.script_result(137, "out", 12.6, 12.5)
    assert (killed.returncode, killed.timed_out, killed.error) == \
        (None, True, "killed at its 12.5 s timeout")
    # a script that exits 124 on its own, early, is that script's status
    assert base.script_result(124, "", 1.0, 12.5).returncode == 124
