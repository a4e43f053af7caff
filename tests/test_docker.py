"""The docker provisioner against the real daemon and the real bookworm image
(built once per test run by tests/test_images.py's shared step): the daemon
and its flags, a private daemon started once by concurrent callers, run with
output, status and timeout, no network, put/get, stop, and errors."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_images import docker_group, shared_bookworm

from testbed.matrix import Cell
from testbed.provision import provisioner_for
from testbed.provision.base import ProvisionError
from testbed.provision.docker import dockerd, images
from testbed.provision.docker.provisioner import DockerProvisioner

pytestmark = docker_group

HOST_ARCH = {"amd64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
BOOKWORM_CELL = Cell(id="test-docker-bookworm", provisioner="docker", arch=HOST_ARCH,
                     libc="glibc", backend="linux", suites=("uu",), image="debian:bookworm")


def test_daemon_answers_with_no_bridge_on_the_host() -> None:
    client = dockerd.ensure_daemon()
    assert client.ping()
    assert "docker0" not in os.listdir("/sys/class/net")
    assert not [n.name for n in client.networks.list() if n.attrs.get("Driver") == "bridge"]


@contextlib.contextmanager
def private_daemon(**kw: Any) -> Iterator[dockerd.DaemonConfig]:
    """A daemon config of its own (socket, pidfile, data and state under a
    fresh /tmp dir); the dockerd it may start is stopped and removed after."""
    base = Path(tempfile.mkdtemp(prefix="cse-dockerd-"))  # short: a socket path
    config = dockerd.DaemonConfig(socket=base / "d.sock", pidfile=base / "d.pid",
                                  log=base / "dockerd.log", data_root=base / "data",
                                  exec_root=base / "exec", **kw)
    try:
        yield config
    finally:
        with contextlib.suppress(OSError, ValueError):
            pid = int(config.pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
        images.remove_tree(base)  # refuses to delete through a leftover mount


def _cmdline(config: dockerd.DaemonConfig) -> list[str]:
    pid = int(config.pidfile.read_text())
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")


def test_concurrent_callers_start_one_private_daemon() -> None:
    """Three callers at once: exactly one dockerd starts, with the flags."""
    with private_daemon() as config:
        with ThreadPoolExecutor(3) as pool:
            clients = list(pool.map(lambda _: dockerd.ensure_daemon(config), range(3)))
        assert all(c.ping() for c in clients)
        assert config.log.read_text().count("testbed starts:") == 1
        argv = _cmdline(config)
        assert set(dockerd.NETWORK_FLAGS) <= set(argv)
        assert "--storage-driver=overlay2" in argv
        assert dockerd.ensure_daemon(config).ping()  # answers: no second start
        assert config.log.read_text().count("testbed starts:") == 1


def test_a_storage_driver_that_fails_falls_back_to_the_next() -> None:
    with private_daemon(storage_drivers=("cse-no-such-driver", "vfs")) as config:
        said: list[str] = []
        client = dockerd.ensure_daemon(config, progress=said.append)
        assert client.info()["Driver"] == "vfs"
        assert config.log.read_text().count("testbed starts:") == 2
        assert "--storage-driver=vfs" in _cmdline(config)
        assert any("cse-no-such-driver" in m for m in said)


def test_a_daemon_that_cannot_start_is_a_tool_error_naming_its_log() -> None:
    with private_daemon(storage_drivers=("cse-no-such-driver",)) as config:
        with pytest.raises(ProvisionError, match="dockerd.log") as e:
            dockerd.ensure_daemon(config)
        assert e.value.culprit == "tool" and e.value.log == config.log
        assert "cse-no-such-driver" in str(e.value)


@pytest.fixture(scope="module")
def cell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerProvisioner]:
    shared_bookworm()
    p = provisioner_for(BOOKWORM_CELL, tmp_path_factory.mktemp("docker-logs"))
    assert isinstance(p, DockerProvisioner)
    p.prepare()
    p.start()
    yield p
    p.stop()


def test_prepare_saves_the_image_build_log(cell: DockerProvisioner) -> None:
    assert cell.image is not None and cell.image.tag == shared_bookworm()["tag"]
    if cell.image.log.exists():  # gone only if build/ was cleaned since the build
        assert cell.logs["image-build"].read_text() == cell.image.log.read_text()


def test_run_returns_output_and_status(cell: DockerProvisioner) -> None:
    r = cell.run("echo out; echo err >&2; echo $((6*7)); exit 3", timeout_s=30)
    assert (r.returncode, r.timed_out, r.error) == (3, False, "")
    assert r.output == "out\nerr\n42\n"
    assert cell.run("id -u; cat /etc/debian_version", timeout_s=30).output.startswith("0\n12.")


def test_run_kills_at_the_timeout(cell: DockerProvisioner) -> None:
    t0 = time.monotonic()
    r = cell.run("echo started; sleep 100", timeout_s=3)
    assert r.timed_out and r.returncode is None
    assert r.output == "started\n"
    assert 3 <= r.duration_s < 15 and time.monotonic() - t0 < 15
    # no ps in minbase; the killed `sleep 100` must be gone, not orphaned
    left = cell.run("cat /proc/[0-9]*/comm | grep -c '^sleep$'", timeout_s=30).output
    assert left.strip() == "1", "only the container's own `sleep infinity` is left"


def test_container_has_no_network(cell: DockerProvisioner) -> None:
    assert cell.run("ls /sys/class/net", timeout_s=30).output.split() == ["lo"]
    assert cell._container is not None
    cell._container.reload()
    assert cell._container.attrs["HostConfig"]["NetworkMode"] == "none"
    assert "docker0" not in os.listdir("/sys/class/net")


def test_put_and_get_files_and_directories(cell: DockerProvisioner, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (src / "sub" / "run.sh").chmod(0o755)
    (src / "link").symlink_to("a.txt")
    cell.put(src, "/work/deep/tree")
    cell.put(src / "a.txt", "/work/single.txt")
    r = cell.run("cd /work && /work/deep/tree/sub/run.sh && cat deep/tree/link single.txt && "
                 "stat -c %U deep/tree/a.txt", timeout_s=30)
    assert (r.returncode, r.output) == (0, "ran\nalpha\nalpha\nroot\n")

    cell.run("echo made-inside > /work/deep/tree/new.txt", timeout_s=30)
    back = tmp_path / "back"
    cell.get("/work/deep/tree", back)
    assert (back / "new.txt").read_text() == "made-inside\n"
    assert (back / "sub" / "run.sh").stat().st_mode & 0o100
    assert os.readlink(back / "link") == "a.txt"
    cell.get("/etc/os-release", tmp_path / "os-release")  # a symlink there: followed
    assert "bookworm" in (tmp_path / "os-release").read_text()


def test_get_of_a_missing_path_is_an_error(cell: DockerProvisioner, tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="does not exist"):
        cell.get("/no/such/file", tmp_path / "x")


def test_shell_argv_reaches_the_container(cell: DockerProvisioner) -> None:
    argv = cell.shell_argv()
    assert argv[:3] == ["docker", "exec", "-it"] and argv[3] == cell.container_name
    # the same command without a terminal
    out = subprocess.run([*argv[:2], argv[3], *argv[4:], "-c", "echo $0"], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "bash", out.stderr


def test_stop_removes_the_container_and_keep_leaves_it(tmp_path: Path) -> None:
    shared_bookworm()
    client = dockerd.ensure_daemon()
    p = provisioner_for(BOOKWORM_CELL, tmp_path / "a")
    p.start()  # prepares on its own
    assert isinstance(p, DockerProvisioner)
    name = p.container_name
    assert client.containers.get(name).labels["cse.testbed.cell"] == BOOKWORM_CELL.id
    p.stop()
    p.stop()  # twice is fine
    assert not client.containers.list(all=True, filters={"name": name})
    assert p.logs["container"].exists()

    kept = provisioner_for(BOOKWORM_CELL, tmp_path / "b")
    kept.start()
    assert isinstance(kept, DockerProvisioner)
    try:
        kept.stop(keep=True)
        assert client.containers.get(kept.container_name).status == "running"
    finally:
        client.containers.get(kept.container_name).remove(force=True)


def test_unknown_image_is_a_harness_error(tmp_path: Path) -> None:
    p = provisioner_for(replace(BOOKWORM_CELL, image="debian:buster"), tmp_path)
    with pytest.raises(ProvisionError, match="debian:bookworm") as e:
        p.prepare()
    assert e.value.culprit == "harness"


def test_unavailable_only_where_docker_cannot_run(tmp_path: Path) -> None:
    assert provisioner_for(BOOKWORM_CELL, tmp_path).unavailable() is None
    foreign = "arm64" if HOST_ARCH != "arm64" else "x86_64"
    other = replace(BOOKWORM_CELL, arch=foreign)
    assert foreign in (provisioner_for(other, tmp_path).unavailable() or "")


def test_default_matrix_docker_cell_runs_for_real(tmp_path: Path) -> None:
    """The bookworm cell of ci/matrix.yaml through the runner, as `cse run`
    does it: source staged into a --network none container, built there with
    bookworm's compiler, the U-U suite run, every scenario reported."""
    from testbed.cli.common import DEFAULT_MATRIX
    from testbed.matrix import load_matrix
    from testbed.runner import RunOptions, run_cell

    shared_bookworm()
    cell = next(c for c in load_matrix(DEFAULT_MATRIX) if c.id == "docker-debian12-x86_64")
    r = run_cell(cell, RunOptions(report_dir=tmp_path / "report", token="docker-cell"))
    detail = {n: (s.status, s.error) for n, s in r.suites.items()}
    assert (r.status, r.culprit) == ("PASS", None), (r.reason, detail)
    tests = {t.name: t.status for t in r.suites["uu"].tests}
    assert tests.get("echo") == "PASS" and tests.get("server_death") == "PASS", tests
    assert len(tests) >= 13
    assert (tmp_path / "report" / r.logs["build"]).read_text().strip()
