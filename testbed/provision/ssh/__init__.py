"""The `ssh` provisioner: any machine reachable over SSH (provisioner.py,
with paramiko).  It owns the matrix keys `ssh` (where to connect: SshTarget)
and `image` (optional: what the host runs, for the reports).

    ssh:
      host: arm64-board.lan  # required unless the cell has a skip_reason
      user: root             # default root
      port: 22               # default 22
      key: ~/.ssh/id_cse     # optional; relative paths are relative to the matrix
      known_hosts: ...       # optional; default ~/.ssh/known_hosts
      insecure_accept_new: false  # true: trust a host key never seen before
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed.provision.registry import Capabilities, Fail, Plugin

if TYPE_CHECKING:
    from testbed.matrix import Cell

SSH_KEYS = ("host", "user", "port", "key", "known_hosts", "insecure_accept_new")


@dataclass(frozen=True)
class SshTarget:
    """Where an ssh cell connects, and how it trusts the host.

    Unknown host keys are rejected unless insecure_accept_new is set: the
    runner copies code to the host and runs it as root, so connecting to an
    impostor (a re-used address, a DNS or DHCP mix-up) must fail loudly, not
    run there.  insecure_accept_new trusts a key never seen before and records
    it in known_hosts (OpenSSH's StrictHostKeyChecking=accept-new); a key that
    differs from a recorded one is refused either way.  Fit for throw-away VMs
    whose keys are new on every boot; not for a machine on a shared network.
    """

    host: str
    user: str = "root"
    port: int = 22
    #: private key file; None: paramiko's defaults (agent, ~/.ssh/id_*)
    key: Path | None = None
    #: None: the user's ~/.ssh/known_hosts (resolved when connecting)
    known_hosts: Path | None = None
    insecure_accept_new: bool = False


def target_of(cell: Cell) -> SshTarget | None:
    """Where the ssh @cell connects (None: it has a skip_reason instead)."""
    target = cell.setting("ssh")
    assert target is None or isinstance(target, SshTarget)
    return target


def settings(target: SshTarget | None) -> tuple[tuple[str, SshTarget], ...]:
    """A Cell's settings for @target (cells made in code, as tests do)."""
    return (("ssh", target),) if target is not None else ()


def _path(value: object, base: Path) -> Path | None:
    """A path from the matrix: ~ expanded, relative to @base (the matrix's
    folder); None if value is not a non-empty string."""
    if not (isinstance(value, str) and value):
        return None
    return base.absolute() / Path(value).expanduser()


def _ssh(raw: object, skip: str | None, base: Path, fail: Fail) -> SshTarget | None:
    """Check a cell's `ssh` mapping (None if absent)."""
    if raw is None:
        if skip is None:
            raise fail("ssh.host", "missing: ssh cells need ssh: {host: ...}, the machine to "
                                   "connect to (or a skip_reason saying why there is none)")
        return None
    if not isinstance(raw, dict):
        raise fail("ssh", f"must be a mapping such as {{host: board.lan, user: root}}, "
                          f"not {type(raw).__name__}")
    for key in raw:
        if key not in SSH_KEYS:
            raise fail(f"ssh.{key}", f"unknown key; known: {', '.join(SSH_KEYS)}")
    host = raw.get("host")
    if host is None:
        raise fail("ssh.host", "missing: the host name or address to connect to")
    for key in ("host", "user"):
        if key in raw and not (isinstance(raw[key], str) and raw[key].strip()):
            raise fail(f"ssh.{key}", f"must be a non-empty string, not {raw[key]!r}")
    port = raw.get("port", 22)
    # bool is an int in Python, but `port: yes` is a mistake, not port 1
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail("ssh.port", f"must be a port number 1..65535, not {port!r}")
    paths: dict[str, Path | None] = {}
    for key in ("key", "known_hosts"):
        paths[key] = _path(raw.get(key), base)
        if key in raw and paths[key] is None:
            raise fail(f"ssh.{key}", f"must be a non-empty path string, not {raw[key]!r}")
    accept_new = raw.get("insecure_accept_new", False)
    if not isinstance(accept_new, bool):
        raise fail("ssh.insecure_accept_new", f"must be true or false, not {accept_new!r}")
    return SshTarget(host=host, user=raw.get("user", "root"), port=port, key=paths["key"],
                     known_hosts=paths["known_hosts"], insecure_accept_new=accept_new)


def _check(raw: Mapping[str, Any], fail: Fail, base: Path) -> dict[str, Any]:
    from testbed.matrix import check_image

    target = _ssh(raw.get("ssh"), raw.get("skip_reason"), base, fail)
    return {"image": check_image(raw, fail, required_by=None), "settings": settings(target)}


PLUGIN = Plugin(
    name="ssh",
    # the host stays up whatever happens: nothing to keep; its kernel is not
    # one the runner builds modules for
    capabilities=Capabilities(kernel_suites=False, keep=False, shell=True),
    provisioner="testbed.provision.ssh.provisioner:SshProvisioner",
    keys=("image", "ssh"),
    check=_check,
)
