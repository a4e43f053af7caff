"""Docker images built from the recipes in docker/ with debootstrap.

Nothing is pulled from a registry: a recipe (docker/<name>.yaml) names a
Debian suite and the packages to include, debootstrap builds the root file
system from a Debian mirror, and the tarball is imported into Docker as
cse-testbed/<name>:<hash>.  The hash covers the recipe and this file (the
code that interprets it), so editing either builds a new image and an
unchanged recipe reuses the one in Docker's store (prepare() is then a
lookup).  A recipe:

    suite: bookworm            # the Debian suite
    variant: minbase           # debootstrap --variant (default minbase)
    include: [gcc, meson]      # debootstrap --include
    script: sid                # optional: debootstrap's script, when it lacks one for suite
    post: |                    # optional: sh -e run in the new root ($MIRROR, $SUITE set)
      ...

The mirror is $CSE_DEBIAN_MIRROR, else the Debian mirror this machine's apt
uses, else deb.debian.org; it is not part of the hash (any mirror serves the
same suite).  The build log is build/docker/logs/<name>-<hash>.log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests.exceptions
import yaml

from testbed.builds import BUILD_ROOT, ROOT
from testbed.debpkg import debian_mirror
from testbed.provision.base import ProvisionError
from testbed.provision.docker.dockerd import machine_lock

log = logging.getLogger(__name__)

RECIPE_DIR = ROOT / "docker"
WORK_DIR = BUILD_ROOT / "docker"
LOG_DIR = WORK_DIR / "logs"
REPOSITORY = "cse-testbed"          # images are cse-testbed/<recipe>:<hash>
LABEL_RECIPE = "cse.testbed.recipe"
LABEL_HASH = "cse.testbed.recipe-hash"
DEBOOTSTRAP_SCRIPTS = Path("/usr/share/debootstrap/scripts")
DEBOOTSTRAP_TIMEOUT_S = 3600        # a slow mirror; a hung one is an error
IMPORT_TIMEOUT_S = 1800
_KEYS = {"suite", "variant", "include", "script", "post"}
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """One parsed docker/<name>.yaml."""

    name: str
    path: Path
    #: 12 hex digits of the recipe's text and of the builder (this file), as
    #: loaded: an edit made during a build does not relabel that build
    digest: str
    suite: str
    variant: str = "minbase"
    include: tuple[str, ...] = ()
    script: str | None = None
    post: str = ""

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.digest}"

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}-{self.digest}.log"


@dataclass(frozen=True)
class BuiltImage:
    """What ensure_image() found or made."""

    id: str
    tag: str
    log: Path           # the build log (from the build that made it)
    built: bool         # False: cache hit
    seconds: float


def load_recipe(path: Path) -> Recipe:
    """Parse and check one recipe; ProvisionError (harness) if malformed."""
    def bad(msg: str) -> ProvisionError:
        return ProvisionError(f"{path}: {msg}", culprit="harness")

    try:
        text = path.read_bytes()
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as e:
        raise bad(f"cannot read the recipe: {e}") from e
    h = hashlib.sha256()
    for part in (text, Path(__file__).read_bytes()):
        h.update(len(part).to_bytes(8, "big") + part)
    if not isinstance(raw, dict) or not isinstance(raw.get("suite"), str):
        raise bad("must be a mapping with at least `suite: <debian suite>`")
    if unknown := set(raw) - _KEYS:
        raise bad(f"unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    include = raw.get("include", [])
    if not (isinstance(include, list) and all(isinstance(p, str) for p in include)):
        raise bad("include must be a list of package names")
    for key in ("variant", "script", "post"):
        if key in raw and not isinstance(raw[key], str):
            raise bad(f"{key} must be a string")
    return Recipe(name=path.stem, path=path, digest=h.hexdigest()[:12], suite=raw["suite"],
                  variant=raw.get("variant", "minbase"), include=tuple(include),
                  script=raw.get("script"), post=raw.get("post", ""))


def recipe_names(recipe_dir: Path = RECIPE_DIR) -> list[str]:
    return sorted(p.stem for p in recipe_dir.glob("*.yaml"))


def recipe_for_image(image: str, recipe_dir: Path = RECIPE_DIR) -> Recipe:
    """The recipe of a matrix image name: debian:bookworm -> debian-bookworm."""
    name = image.replace(":", "-").replace("/", "-")
    path = recipe_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(f"{n.replace('-', ':', 1)} ({recipe_dir.name}/{n}.yaml)"
                          for n in recipe_names(recipe_dir)) or "none"
        raise ProvisionError(f"no image recipe for {image!r}: expected {path}; "
                             f"images with a recipe: {known}", culprit="harness")
    return load_recipe(path)


def _script(recipe: Recipe) -> str:
    """The debootstrap script: the recipe's, the suite's, or sid's (an older
    debootstrap may not know a newer suite; sid's script builds them all)."""
    if recipe.script:
        return recipe.script
    return recipe.suite if (DEBOOTSTRAP_SCRIPTS / recipe.suite).exists() else "sid"


_PER_PACKAGE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]")


def _run_logged(argv: list[str], out: IO[str], what: str, progress: Progress,
                timeout_s: float, env: dict[str, str] | None = None) -> None:
    """Run @argv with its output appended to @out; pass debootstrap's phase
    lines (not its per-package lines) to @progress; ProvisionError on failure."""
    out.write(f"\n$ {' '.join(argv)}\n")
    out.flush()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=env, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout_s, proc.kill)  # fires even if it prints nothing
    watchdog.start()
    phases: set[str] = set()  # per-package verbs shown since the last phase line
    tail: list[str] = []
    try:
        for line in proc.stdout:
            out.write(line)
            tail = (tail + [line.rstrip()])[-15:]
            if m := _PER_PACKAGE.match(line):
                if m.group(1) not in phases:
                    phases.add(m.group(1))
                    progress(f"{what}: {m.group(1).lower()} packages")
            elif line.startswith(("I: ", "W: ", "E: ")):
                phases.clear()
                progress(f"{what}: {line[3:].strip()}")
        rc = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:  # we are being interrupted: leave no debootstrap behind
            proc.kill()
            proc.wait()
    out.flush()
    if rc:
        why = f"killed after {timeout_s:.0f} s" if time.monotonic() - t0 >= timeout_s else \
            f"exit status {rc}"
        raise ProvisionError(f"{what} failed ({why}); last lines:\n" + "\n".join(tail),
                             culprit="tool", log=Path(out.name))


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below @path (debootstrap mounts /proc, /sys, ...)."""
    prefix = str(path.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if (point + "/").startswith(prefix):
            points.append(point)
    return points


def remove_tree(path: Path) -> None:
    """rm -rf @path, but never through a mount (a bound /dev or /proc)."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    if left := _mounts_under(path):
        raise ProvisionError(f"cannot remove {path}: still mounted: {', '.join(left)}",
                             culprit="tool")
    shutil.rmtree(path)


def _build(client: docker.DockerClient, recipe: Recipe, mirror: str, out: IO[str],
           progress: Progress) -> str:
    """debootstrap, post steps, tar, import; the new image's id."""
    what = f"image {recipe.name}"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    for stale in WORK_DIR.glob(f"rootfs-{recipe.name}-{recipe.digest}-*"):
        remove_tree(stale)  # a build that was killed; we hold its lock now
    tmp = Path(tempfile.mkdtemp(prefix=f"rootfs-{recipe.name}-{recipe.digest}-", dir=WORK_DIR))
    root = tmp / "root"
    try:
        progress(f"{what}: debootstrap {recipe.suite} from {mirror} (log: {out.name})")
        argv = ["debootstrap", f"--variant={recipe.variant}", "--components=main"]
        if recipe.include:
            argv.append("--include=" + ",".join(recipe.include))
        try:
            _run_logged(argv + [recipe.suite, str(root), mirror, _script(recipe)], out,
                        f"{what}: debootstrap", progress, DEBOOTSTRAP_TIMEOUT_S)
        except ProvisionError:
            # debootstrap's own log has the details its output leaves out
            inner = root / "debootstrap" / "debootstrap.log"
            if inner.exists():
                out.write(f"\n--- {inner.name} ---\n{inner.read_text(errors='replace')}")
            raise
        env = {"PATH": _PATH, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
               "MIRROR": mirror, "SUITE": recipe.suite, "HOME": "/root"}
        if recipe.post.strip():
            progress(f"{what}: post steps")
            _run_logged(["chroot", str(root), "/bin/sh", "-ec", recipe.post], out,
                        f"{what}: post steps", progress, DEBOOTSTRAP_TIMEOUT_S, env)
        # Smaller image; no network in the containers, so no use for lists.
        _run_logged(["chroot", str(root), "/bin/sh", "-ec",
                     "apt-get clean; rm -rf /var/lib/apt/lists/*; : > /etc/resolv.conf"],
                    out, f"{what}: clean up", progress, 300, env)
        progress(f"{what}: tar and docker import")
        tarball = tmp / "rootfs.tar"
        _run_logged(["tar", "--numeric-owner", "--one-file-system", "-C", str(root),
                     "-cf", str(tarball), "."], out, f"{what}: tar", progress, 1800)
        repo, _, tag = recipe.tag.partition(":")
        changes = [f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]',
                   f"LABEL {LABEL_RECIPE}={recipe.name} {LABEL_HASH}={recipe.digest}"]
        api_timeout = client.api.timeout
        client.api.timeout = IMPORT_TIMEOUT_S  # ~400 MB: more than one API call's worth
        try:
            result = client.api.import_image_from_file(str(tarball), repository=repo, tag=tag,
                                                       changes=changes)
            out.write(f"\ndocker import: {result}\n")
            return client.images.get(recipe.tag).id
        except (docker.errors.DockerException, OSError) as e:
            raise ProvisionError(f"{what}: docker import failed: {e}", culprit="tool",
                                 log=Path(out.name)) from e
        finally:
            client.api.timeout = api_timeout
    finally:
        remove_tree(tmp)


def _drop_older(client: docker.DockerClient, recipe: Recipe, keep: str) -> None:
    """Remove this recipe's images of earlier hashes (best effort: one still
    used by a container, or by a checkout at an older commit, may stay, and
    a daemon too busy to answer in time keeps them all: the image just built
    is what the cell needs, and the next build tries again)."""
    try:
        older = [i for i in client.images.list(filters={"label": f"{LABEL_RECIPE}={recipe.name}"})
                 if i.id != keep]
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        log.info("kept older images of %s: %s", recipe.name, e)
        return
    for image in older:
        try:
            client.images.remove(image.id)
            log.info("removed %s (older recipe hash)", ", ".join(image.tags) or image.id)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            log.info("kept older image %s: %s", image.id, e)
            continue
        old = image.labels.get(LABEL_HASH)
        if old and old != recipe.digest:
            (LOG_DIR / f"{recipe.name}-{old}.log").unlink(missing_ok=True)


def ensure_image(client: docker.DockerClient, recipe: Recipe, *,
                 progress: Progress = log.info, mirror: str | None = None) -> BuiltImage:
    """The image of @recipe, built unless Docker's store has it already.
    Concurrent callers for the same image wait for one build."""
    t0 = time.monotonic()
    with machine_lock(f"image-{recipe.name}-{recipe.digest}"):
        try:
            return BuiltImage(client.images.get(recipe.tag).id, recipe.tag, recipe.log,
                              built=False, seconds=time.monotonic() - t0)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.DockerException as e:
            raise ProvisionError(f"docker cannot look up {recipe.tag}: {e}") from e
        for tool in ("debootstrap", "chroot", "tar"):
            if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin") is None:
                raise ProvisionError(f"{tool} is not installed; building image {recipe.name} "
                                     f"needs it: run scripts/install-testbed-deps.sh")
        if os.geteuid() != 0:
            raise ProvisionError(f"building image {recipe.name} runs debootstrap, which needs "
                                 f"root")
        mirror = mirror or debian_mirror()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with recipe.log.open("w") as out:
            out.write(f"# {recipe.tag} from {recipe.path} (suite {recipe.suite}, "
                      f"mirror {mirror}), {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            image_id = _build(client, recipe, mirror, out, progress)
            seconds = time.monotonic() - t0
            out.write(f"\n# built {image_id} in {seconds:.0f} s\n")
        progress(f"image {recipe.name}: built {recipe.tag} in {seconds:.0f} s")
        _drop_older(client, recipe, keep=image_id)
        return BuiltImage(image_id, recipe.tag, recipe.log, built=True, seconds=seconds)
