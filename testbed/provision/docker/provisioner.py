"""The docker provisioner: one long-lived container per cell, made from an
image that testbed.provision.docker.images builds with debootstrap (nothing is pulled), and
always without a network (--network none: only `lo` inside).

The daemon is found or started by testbed.provision.docker.dockerd.  Containers are named
cse-<cell id>-<random> and labelled, so leftovers of a killed run or of
stop(keep=True) are easy to find and remove:

    docker ps -a --filter label=cse.testbed.cell
    docker rm -f $(docker ps -aq --filter label=cse.testbed.cell)

docker exec has no timeout of its own, so run() enforces one twice: inside,
the script runs under `timeout -s KILL` (which kills its whole process
group); outside, a watchdog waits a grace period longer and then kills the
exec from the host (or the container, when the daemon no longer answers).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any

import docker
import docker.errors
from docker.models.containers import Container

from testbed.matrix import Cell
from testbed.provision.base import (
    LIVE_LOG,
    CommandResult,
    Provisioner,
    ProvisionError,
    kill_at,
    pack,
    script_result,
    unpack,
)
from testbed.provision.docker import PLUGIN, dockerd, images

log = logging.getLogger(__name__)

LABEL_CELL = "cse.testbed.cell"
LABEL_IMAGE = "cse.testbed.image"       # the image's tag (its recipe hash)
LABEL_CREATOR = "cse.testbed.creator"   # host:pid of the process that made it
#: how long past its timeout a script may take to come back before the
#: host-side watchdog steps in (the inner `timeout` should have ended it)
WATCHDOG_GRACE_S = 30.0
_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64",
           "i386": "i386", "i686": "i386"}
_DOCKER_ERRORS = (docker.errors.DockerException, OSError)


class DockerProvisioner(Provisioner):
    """A container of the cell's image; see the module docstring."""

    name = "docker"
    capabilities = PLUGIN.capabilities

    def __init__(self, cell: Cell, logdir: Path) -> None:
        super().__init__(cell, logdir)
        self.image: images.BuiltImage | None = None
        self.container_name = ""
        self._client: docker.DockerClient | None = None
        #: for exec output: no read timeout, since a script may print nothing for
        #: longer than any API timeout (docker-py then ends the stream early,
        #: silently); the watchdog in run() bounds it instead
        self._stream_client: docker.DockerClient | None = None
        self._container: Container | None = None
        self._init_pid = 0   # host pid of the container's init, for the watchdog

    # -- lifecycle --------------------------------------------------------

    def unavailable(self) -> str | None:
        if not sys.platform.startswith("linux"):
            return ("docker cells need a Linux host: images are built with debootstrap and "
                    "the daemon is started by the testbed")
        host = _ARCHES.get(platform.machine(), platform.machine())
        if self.cell.arch != host:
            return (f"images are built for this host's architecture ({host}); the cell needs "
                    f"{self.cell.arch}")
        return None

    def _progress(self, msg: str) -> None:
        log.info("%s: %s", self.cell.id, msg)

    def prepare(self) -> None:
        """The daemon and the cell's image (built once, then cached)."""
        recipe = images.recipe_for_image(self.cell.image or "")
        self._client = dockerd.ensure_daemon(progress=self._progress)
        self.image = images.ensure_image(self._client, recipe, progress=self._progress)
        if self.image.log.exists():
            saved = self.logdir / "image-build.log"
            shutil.copyfile(self.image.log, saved)
            self.logs["image-build"] = saved

    def start(self) -> None:
        if self.image is None or self._client is None:
            self.prepare()
        assert self.image is not None and self._client is not None
        slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", self.cell.id)
        self.container_name = f"cse-{slug}-{secrets.token_hex(3)}"
        try:
            self._container = self._client.containers.run(
                self.image.id, ["sleep", "infinity"], name=self.container_name, detach=True,
                network_mode="none",          # never a network, whatever the daemon's default
                init=True,                    # an init that reaps what timeouts orphan
                hostname=slug[:63], shm_size="256m",
                labels={LABEL_CELL: self.cell.id, LABEL_IMAGE: self.image.tag,
                        LABEL_CREATOR: f"{platform.node()}:{os.getpid()}"})
            self._container.reload()
            state = self._container.attrs["State"]
        except _DOCKER_ERRORS as e:
            self._remove_by_name()  # created but not started: do not leave it behind
            raise ProvisionError(f"cannot start a container of {self.image.tag}: {e}",
                                 log=dockerd.SYSTEM.log) from e
        if not state.get("Running"):
            self._save_container_log()
            self._remove_by_name()
            self._container = None
            raise ProvisionError(f"container {self.container_name} is not running after start "
                                 f"(see container.log): {json.dumps(state)}",
                                 log=self.logs.get("container"))
        self._init_pid = int(state.get("Pid") or 0)
        # The API version given, so making the client sends no request.
        self._stream_client = dockerd.client_for(timeout=None,
                                                 version=self._client.api.api_version)
        self._progress(f"container {self.container_name} up ({self.image.tag})")

    def stop(self, *, keep: bool = False) -> None:
        if self._container is None:
            return
        self._save_container_log()
        if keep:
            log.warning("%s: container %s left running; shell: %s", self.cell.id,
                        self.container_name, " ".join(self.shell_argv()))
            return
        try:
            self._container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except _DOCKER_ERRORS as e:
            raise ProvisionError(f"cannot remove container {self.container_name}: {e}") from e
        self._container = None

    def _remove_by_name(self) -> None:
        """Best effort, on a path that already raises its own error."""
        assert self._client is not None
        with contextlib.suppress(*_DOCKER_ERRORS):
            self._client.containers.get(self.container_name).remove(force=True)

    def shell_argv(self) -> list[str]:
        if not self.container_name:
            raise ProvisionError("no container: shell_argv() before start()", culprit="harness")
        return ["docker", "exec", "-it", self.container_name, "bash"]

    def _save_container_log(self) -> None:
        """`docker logs` and the container's final state, into the logdir."""
        assert self._container is not None
        path = self.logdir / "container.log"
        try:
            self._container.reload()
            text = self._container.logs().decode(errors="replace")
            state = json.dumps(self._container.attrs.get("State", {}), indent=2)
        except _DOCKER_ERRORS as e:
            text, state = "", f"(cannot read: {e})"
        path.write_text(f"# docker logs {self.container_name}\n{text}\n# State\n{state}\n")
        self.logs["container"] = path

    def _need(self) -> Container:
        if self._container is None:
            raise ProvisionError("no container: call start() first", culprit="harness")
        return self._container

    # -- commands ---------------------------------------------------------

    def run(self, script: str, *, timeout_s: float) -> CommandResult:
        """Run @script; its output also goes to <logdir>/cell.log as it comes
        (what a hung run printed stays, and the runner shows the progress)."""
        live = self.logdir / LIVE_LOG
        with live.open("wb") as f:
            res = self._exec(script, timeout_s, f)
        self.logs["output"] = live
        return res

    def _exec(self, script: str, timeout_s: float, live: IO[bytes] | None = None
              ) -> CommandResult:
        container = self._need()
        assert self._client is not None and self._stream_client is not None
        t0 = time.monotonic()
        # stderr joins stdout in the container, so their order is the order
        # the script printed them in (two docker streams would lose it).
        argv = ["sh", "-c", f'exec {kill_at(timeout_s)} sh -c "$1" 2>&1', "sh", script]
        try:
            exec_id = self._client.api.exec_create(container.id, argv)["Id"]
        except _DOCKER_ERRORS as e:
            raise ProvisionError(f"docker exec in {self.container_name} failed: {e}") from e

        # Started and read in a thread, so that the watchdog below also covers
        # a daemon that hangs before the first byte.
        chunks: list[bytes] = []
        streams: list[Any] = []
        failed: list[BaseException] = []

        def read() -> None:
            try:
                streams.append(self._stream_client.api.exec_start(exec_id, stream=True))
                for chunk in streams[0]:
                    chunks.append(chunk)
                    if live:
                        live.write(chunk)
                        live.flush()
            except _DOCKER_ERRORS as e:
                failed.append(e)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s + WATCHDOG_GRACE_S)
        error = ""
        if reader.is_alive():
            error = self._watchdog(exec_id, timeout_s)
            if streams:
                streams[0].close()
            reader.join(10)
        if failed:
            raise ProvisionError(f"docker exec in {self.container_name} failed: {failed[0]}")
        output = b"".join(chunks).decode(errors="replace")
        info = self._exec_info(exec_id)
        duration = time.monotonic() - t0
        if info is None or info.get("Running"):
            raise ProvisionError(
                f"docker exec in {self.container_name} did not end {WATCHDOG_GRACE_S:.0f} s "
                f"after its {timeout_s:g} s timeout and the daemon does not answer; killed "
                f"it from the host. Output so far:\n{output[-2000:]}", log=dockerd.SYSTEM.log)
        return script_result(int(info["ExitCode"]), output, duration, timeout_s, error)

    def _exec_info(self, exec_id: str) -> dict[str, Any] | None:
        """exec_inspect, waiting a little for Running to clear after the
        stream ends; None when the daemon does not answer."""
        assert self._client is not None
        for _ in range(50):
            try:
                info = self._client.api.exec_inspect(exec_id)
            except _DOCKER_ERRORS:
                return None
            if not info.get("Running"):
                return info
            time.sleep(0.2)
        return info

    def _watchdog(self, exec_id: str, timeout_s: float) -> str:
        """The output stream outlived the timeout by the grace period: end
        whatever is left, from the host.  Returns the note for the result."""
        assert self._client is not None
        try:
            info = self._client.api.exec_inspect(exec_id)
        except _DOCKER_ERRORS:
            info = None
        if info is not None and not info.get("Running"):
            return "the script ended but a process it left behind held its output open"
        # Host pids: the exec's (its `timeout` leads its own process group), or
        # the container's init when the daemon cannot even tell us that.
        pid = int(info.get("Pid") or 0) if info else 0
        with contextlib.suppress(OSError):
            if pid:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            elif self._init_pid:
                os.kill(self._init_pid, signal.SIGKILL)
        log.warning("%s: watchdog killed %s in %s", self.cell.id,
                    f"exec pid {pid}" if pid else f"container init {self._init_pid}",
                    self.container_name)
        return f"still running {WATCHDOG_GRACE_S:.0f} s after its {timeout_s:g} s timeout: " \
               f"killed from the host"

    # -- files ------------------------------------------------------------

    def put(self, src: Path, dest: str) -> None:
        """Copy @src to exactly @dest (an absolute path; its parents are
        made; a directory merges into an existing one), owned by root."""
        container = self._need()
        target = PurePosixPath(dest)
        if not target.is_absolute() or target.name in ("", "..", "."):
            raise ProvisionError(f"put: destination {dest!r} must be an absolute path "
                                 f"naming the copy", culprit="harness")
        if not src.exists():
            raise ProvisionError(f"put: {src} does not exist", culprit="harness")
        mkdir = self._exec(f"mkdir -p '{target.parent}'", timeout_s=60)
        if mkdir.returncode != 0:
            raise ProvisionError(f"put: cannot make {target.parent} in {self.container_name}: "
                                 f"{mkdir.output.strip()}")
        with pack(src, target.name) as buf:
            try:
                ok = container.put_archive(str(target.parent), buf)
            except _DOCKER_ERRORS as e:
                raise ProvisionError(f"put: copying {src} to {self.container_name}:{dest} "
                                     f"failed: {e}") from e
        if not ok:
            raise ProvisionError(f"put: docker refused {src} -> {self.container_name}:{dest}")

    def get(self, src: str, dest: Path) -> None:
        """Copy the cell's file or directory @src to exactly @dest (a
        directory merges into an existing one; a symlink @src is followed)."""
        container = self._need()
        with tempfile.TemporaryFile() as buf:
            try:
                bits, stat = container.get_archive(src)
                if stat.get("linkTarget"):  # a symlink: copy what it names, as `docker cp -L`
                    target = PurePosixPath(src).parent / stat["linkTarget"]
                    bits, stat = container.get_archive(str(target))
                for chunk in bits:
                    buf.write(chunk)
            except docker.errors.NotFound as e:
                raise ProvisionError(f"get: {src} does not exist in {self.container_name}",
                                     culprit="harness") from e
            except _DOCKER_ERRORS as e:
                raise ProvisionError(f"get: copying {self.container_name}:{src} failed: "
                                     f"{e}") from e
            buf.seek(0)
            unpack(buf, stat["name"], dest)
