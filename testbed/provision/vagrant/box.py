"""The boxes the testbed builds itself, offline, and who runs Vagrant.

A matrix image that names a recipe of LOCAL_BOXES (cse/debian12) is no box
to download: vagrant/box/<recipe> builds it from Debian's packages into the
per-user cache (testbed/cache.py), keyed by a hash of the recipe, and the
box is added to Vagrant as cse-<name>-<digest>, so that an edited recipe
makes a new box beside the old one and an unchanged one is built once.

libvirt in qemu:///session runs a daemon per user, started on demand by its
first client, with no system daemon and so none of its networks (virbr0 on
192.168.122.0/24 never exists).  root's session is the system daemon, so as
root Vagrant runs as the unprivileged VM_USER (created by
scripts/install-testbed-deps.sh), in its home; anyone else runs it as
themselves, in ~/.local/share/cse-vagrant.  What that user's libvirt and
QEMU read (the box's kernel, initrd and key, the Vagrantfiles) is copied
into that home, since root's cache and checkout may be closed to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed import cache
from testbed.builds import ROOT

BOX_DIR = ROOT / "vagrant" / "box"
#: matrix image -> its recipe under vagrant/box/
LOCAL_BOXES = {"cse/debian12": "debian12.sh"}
VM_USER = "cse-vagrant"
CACHE_KIND = "vagrant-boxes"
BUILD_TIMEOUT_S = 3600
ADD_TIMEOUT_S = 600
Say = Callable[[str], None]


class BoxError(RuntimeError):
    """The box could not be built or added (the message names the log)."""


def is_local(image: str) -> bool:
    return image in LOCAL_BOXES


@dataclass(frozen=True)
class RunAs:
    """Who runs Vagrant (and so owns its libvirt session) and where."""

    user: str | None  # None: this process's own user
    home: Path

    def argv(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """@argv run as the user with exactly @env."""
        if self.user is None:
            return argv
        return ["runuser", "-u", self.user, "--", "env", "-i",
                *(f"{k}={v}" for k, v in sorted(env.items())), *argv]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment Vagrant runs with: the user's home and Vagrant's
        (boxes, plugins) in it; no version check over the network."""
        env = dict(os.environ if base is None else base)
        if self.user is not None:
            env = {k: v for k, v in env.items() if k in ("PATH", "LANG", "LC_ALL", "TERM")
                   or k.startswith(("VAGRANT_", "CSE_"))}
            env |= {"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user,
                    "XDG_RUNTIME_DIR": str(self.home / "run")}
            env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        env |= {"VAGRANT_HOME": str(self.home / "vagrant.d"),
                "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_NO_COLOR": "1"}
        return env

    def own(self, *paths: Path) -> None:
        """Give @paths (made by this process) to the user."""
        if self.user is None:
            return
        pw = pwd.getpwnam(self.user)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def mkdir(self, path: Path, mode: int = 0o755) -> Path:
        """@path and its missing parents under home, owned by the user."""
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        self.own(*missing)
        return path


def run_as() -> RunAs:
    if os.geteuid() == 0:
        return RunAs(VM_USER, Path("/var/lib") / VM_USER)
    return RunAs(None, Path.home() / ".local" / "share" / "cse-vagrant")


def user_missing(who: RunAs) -> str | None:
    """Why @who cannot run Vagrant here (its user does not exist), or None."""
    if who.user is None:
        return None
    try:
        pwd.getpwnam(who.user)
    except KeyError:
        return (f"no user {who.user} to run libvirt's per-user session daemon "
                f"(scripts/install-testbed-deps.sh creates it)")
    return None


def recipe(image: str) -> Path:
    return BOX_DIR / LOCAL_BOXES[image]


def entry(image: str) -> cache.Entry:
    script = recipe(image)
    return cache.Entry(CACHE_KIND, script.stem, cache.digest(script))


def box_name(image: str) -> str:
    """The name the box is added to Vagrant under."""
    e = entry(image)
    return f"cse-{e.name}-{e.digest}"


def cached(image: str) -> bool:
    e = entry(image)
    return e.path.is_dir() and cache.problem(e.path, e.digest) is None


def build(image: str, say: Say | None = None) -> Path:
    """The box's cache entry, built by its recipe when missing."""
    e = entry(image)
    script = recipe(image)

    def fill(tmp: Path) -> None:
        e.log.parent.mkdir(parents=True, exist_ok=True)
        with e.log.open("w") as log:
            try:
                proc = subprocess.run(["sh", str(script), str(tmp)], stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      timeout=BUILD_TIMEOUT_S)
            except subprocess.TimeoutExpired as err:
                raise BoxError(f"{script.name} did not finish in {BUILD_TIMEOUT_S} s "
                               f"(log: {e.log})") from err
        if proc.returncode:
            tail = "\n".join(e.log.read_text(errors="replace").strip().splitlines()[-15:])
            raise BoxError(f"{script.name} failed ({proc.returncode}; log: {e.log}):\n{tail}")

    try:
        return cache.ensure(e, fill, say)
    except OSError as err:
        raise BoxError(f"cannot build the {image} box in {e.path}: {err}") from err


@dataclass(frozen=True)
class LocalBox:
    """A built box as the user that runs Vagrant sees it."""

    name: str
    kernel: Path
    initrd: Path
    key: Path
    release: str


def installed(who: RunAs, timeout_s: float = 60) -> set[str]:
    """The boxes Vagrant has for @who (any provider)."""
    try:
        out = subprocess.run(who.argv(["vagrant", "box", "list", "--machine-readable"],
                                      who.env()),
                             capture_output=True, text=True, timeout=timeout_s,
                             env=who.env(), stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {f[3] for line in out.splitlines()
            if len(f := line.split(",")) >= 4 and f[2] == "box-name"}


def install(image: str, who: RunAs, log: Path, say: Say | None = None) -> LocalBox:
    """Build (cached) and add the box for @who; its kernel, initrd and key
    copied where @who's libvirt reads them."""
    src = build(image, say)
    name = box_name(image)
    mine = who.mkdir(who.home / "boxes" / name)
    files = {}
    for f, mode in (("vmlinuz", 0o644), ("initrd.img", 0o644), ("key", 0o600)):
        dest = mine / f
        if not dest.is_file() or dest.stat().st_size != (src / f).stat().st_size:
            shutil.copyfile(src / f, dest)
            dest.chmod(mode)
            who.own(dest)
        files[f] = dest
    if name not in installed(who):
        tmp = who.mkdir(who.home / "tmp", 0o700)
        boxfile = tmp / f"{name}.box"
        try:
            subprocess.run(["tar", "-cf", str(boxfile), "-C", str(src), "metadata.json",
                            "Vagrantfile", "box.img"], check=True, capture_output=True,
                           timeout=ADD_TIMEOUT_S)
            who.own(boxfile)
            env = who.env()
            with log.open("a") as f:
                proc = subprocess.run(who.argv(["vagrant", "box", "add", "--force", "--name",
                                                name, str(boxfile)], env),
                                      stdout=f, stderr=subprocess.STDOUT, env=env,
                                      stdin=subprocess.DEVNULL, timeout=ADD_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as err:
            raise BoxError(f"cannot add the box {name}: {err}") from err
        finally:
            boxfile.unlink(missing_ok=True)
        if proc.returncode:
            raise BoxError(f"vagrant box add {name} failed ({proc.returncode}; log: {log})")
    return LocalBox(name, files["vmlinuz"], files["initrd.img"], files["key"],
                    (src / "release").read_text().strip())
