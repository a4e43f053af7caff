"""The test matrix: the cells of ci/matrix.yaml, validated before anything runs.

A cell is one place the suites run (this host, a container, a VM, a remote
host) with its id doubling as the report key.  The file is a mapping with one
key, `cells`, a list of mappings:

    cells:
      - id: qemu-debian12-6.1-x86_64
        provisioner: qemu        # local, docker, qemu, ssh, vagrant
        image: debian:bookworm   # required for docker, qemu and vagrant
        kernel: "6.1"            # qemu: series[-rt] from testbed/kernels.py; others: host
        arch: x86_64             # x86_64, i386, arm64, s390x, ppc64
        os: linux                # linux (default), freebsd
        libc: glibc              # glibc, musl, bsd (FreeBSD's)
        compiler: gcc            # gcc (default), clang, zig
        backend: linux           # linux, emulated, freebsd
        suites: [build, kk]      # non-empty subset of build, uu, uk, ku, kk, kv
        tags: [default]          # tiers: default (the default), extended, canary
        allow_failure: false     # true: reported, never fails the run (the canary)
        skip_reason: "..."       # optional: listed and reported SKIP, never dropped
        ssh:                     # ssh cells only: where to connect (see SshTarget)
          host: arm64-board.lan  # required unless the cell has a skip_reason
          user: root             # default root
          port: 22               # default 22
          key: ~/.ssh/id_cse     # optional; relative paths are relative to this file
          known_hosts: ...       # optional; default ~/.ssh/known_hosts
          insecure_accept_new: false  # true: trust a host key never seen before

The `build` suite compiles and links the library and every test binary for
the cell's target (and, in a qemu cell, the kernel modules for its kernel);
uu, uk, ku and kk run the conformance suites in each direction, and kv the
kvstore example (examples/kvstore) in every direction the cell has (U-U
only, outside a VM), comparing their transcripts (testbed/kvsuite.py).

Every error is a MatrixError naming the file (and line), the cell and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed import kernels
from testbed.safepath import cell_id_problem

PROVISIONERS = ("local", "docker", "qemu", "ssh", "vagrant")
#: provisioners whose cells need an `image` (container image, VM distro, box)
NEEDS_IMAGE = ("docker", "qemu", "vagrant")
HOST_KERNEL = "host"
ARCHES = ("x86_64", "i386", "arm64", "s390x", "ppc64")
OSES = ("linux", "freebsd")
LIBCS = ("glibc", "musl", "bsd")
COMPILERS = ("gcc", "clang", "zig")
BACKENDS = ("linux", "emulated", "freebsd")
SUITES = ("build", "uu", "uk", "ku", "kk", "kv")
#: suites that load kernel modules (Linux only)
KERNEL_SUITES = ("kk", "uk", "ku")
#: tiers: `cse run` with no cell named runs DEFAULT_TAGS
TAGS = ("default", "extended", "canary")
DEFAULT_TAGS = ("default", "canary")

REQUIRED = ("id", "provisioner", "arch", "libc", "backend", "suites")
OPTIONAL = ("image", "kernel", "os", "compiler", "tags", "allow_failure", "skip_reason", "ssh")
SSH_KEYS = ("host", "user", "port", "key", "known_hosts", "insecure_accept_new")


class MatrixError(ValueError):
    """ci/matrix.yaml is unreadable or invalid; the message says where and why."""


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


@dataclass(frozen=True)
class Cell:
    """One place the suites run.  kernel names a testbed.kernels entry for
    qemu cells, else "host"."""

    id: str
    provisioner: str
    arch: str
    libc: str
    backend: str
    suites: tuple[str, ...]
    image: str | None = None
    kernel: str = HOST_KERNEL
    skip_reason: str | None = None
    ssh: SshTarget | None = None
    os: str = "linux"
    compiler: str = "gcc"
    tags: tuple[str, ...] = ("default",)
    allow_failure: bool = False

    @property
    def runs_suites(self) -> tuple[str, ...]:
        """The suites that run code (all but `build`)."""
        return tuple(s for s in self.suites if s != "build")


def _key_lines(text: str) -> list[dict[str, int]]:
    """Per cell, the 1-based line of each key ("" = the cell itself)."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return []
    lines = []
    for key, value in root.value:
        if key.value == "cells" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                where = {"": item.start_mark.line + 1}
                if isinstance(item, yaml.MappingNode):
                    where |= {str(k.value): k.start_mark.line + 1 for k, _ in item.value}
                    # nested keys ("ssh.port") get their own line too
                    where |= {f"{k.value}.{sk.value}": sk.start_mark.line + 1
                              for k, v in item.value if isinstance(v, yaml.MappingNode)
                              for sk, _ in v.value}
                lines.append(where)
    return lines


class _Checker:
    """Builds the error messages for one file."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _key_lines(text)

    def error(self, msg: str, index: int | None = None, label: str = "",
              key: str = "") -> MatrixError:
        line = None
        if index is not None and index < len(self.lines):
            keys = self.lines[index]
            # a missing nested key ("ssh.host") points at its parent ("ssh")
            line = keys.get(key) or keys.get(key.partition(".")[0]) or keys[""]
        where = f"{self.path}:{line}" if line else f"{self.path}"
        cell = f" cell {label}:" if label else ""
        return MatrixError(f"{where}:{cell}{f' key {key!r}:' if key else ''} {msg}")


def _one_of(value: object, allowed: tuple[str, ...]) -> str | None:
    """None if value is one of allowed, else why not."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__} {value!r}"
    if value not in allowed:
        return f"unknown value {value!r}; known: {', '.join(allowed)}"
    return None


def _path(value: object, base: Path) -> Path | None:
    """A path from the matrix: ~ expanded, relative to @base (the matrix's
    folder); None if value is not a non-empty string."""
    if not (isinstance(value, str) and value):
        return None
    return base.absolute() / Path(value).expanduser()


def _ssh(raw: object, prov: str, skip: str | None, base: Path,
         fail: Callable[[str, str], MatrixError]) -> SshTarget | None:
    """Check a cell's `ssh` mapping (None if absent)."""
    if raw is None:
        if prov == "ssh" and skip is None:
            raise fail("ssh.host", "missing: ssh cells need ssh: {host: ...}, the machine to "
                                   "connect to (or a skip_reason saying why there is none)")
        return None
    if prov != "ssh":
        raise fail("ssh", f"only ssh cells say where to connect; {prov} cells find their "
                          f"own host")
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


def _cell(raw: dict[str, Any], fail: Callable[[str, str], MatrixError],
          base: Path = Path(".")) -> Cell:
    """Check one cell's mapping; fail(key, msg) builds the MatrixError.
    @base is the matrix file's folder (relative paths in the cell start there)."""
    for key in raw:
        if key not in REQUIRED + OPTIONAL:
            raise fail(key, f"unknown key; known: {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if key not in raw:
            raise fail(key, "missing required key")
    for key, allowed in (("provisioner", PROVISIONERS), ("arch", ARCHES), ("libc", LIBCS),
                         ("backend", BACKENDS)):
        if why := _one_of(raw[key], allowed):
            raise fail(key, why)
    for key, allowed in (("os", OSES), ("compiler", COMPILERS)):
        if key in raw and (why := _one_of(raw[key], allowed)):
            raise fail(key, why)
    os_name, libc, backend = raw.get("os", "linux"), raw["libc"], raw["backend"]
    if (libc == "bsd") != (os_name == "freebsd"):
        raise fail("libc", f"libc {libc!r} does not go with os {os_name!r} "
                           f"(FreeBSD's libc is 'bsd', and only FreeBSD has it)")
    if backend == "linux" and os_name != "linux" or backend == "freebsd" and os_name != "freebsd":
        raise fail("backend", f"the {backend} backend runs on {backend}, not {os_name}")

    suites = raw["suites"]
    if not isinstance(suites, list):
        raise fail("suites", f"must be a list such as [uu], not {type(suites).__name__}")
    if not suites:
        raise fail("suites", f"must name at least one of {', '.join(SUITES)}")
    for suite in suites:
        if why := _one_of(suite, SUITES):
            raise fail("suites", why)
    if len(set(suites)) != len(suites):
        raise fail("suites", "a suite is listed twice")
    if os_name != "linux" and (kernel_suites := [x for x in suites if x in KERNEL_SUITES]):
        raise fail("suites", f"{', '.join(kernel_suites)} load Linux kernel modules; "
                             f"an {os_name} cell cannot run them")
    tags = _tags(raw.get("tags", ["default"]), fail)
    allow_failure = raw.get("allow_failure", False)
    if not isinstance(allow_failure, bool):
        raise fail("allow_failure", f"must be true or false, not {allow_failure!r}")

    prov = raw["provisioner"]
    image = raw.get("image")
    if image is not None and not (isinstance(image, str) and image):
        raise fail("image", f"must be a non-empty string, not {image!r}")
    if image is None and prov in NEEDS_IMAGE:
        raise fail("image", f"missing: {prov} cells need an image (e.g. debian:bookworm)")

    kernel = raw.get("kernel")
    if kernel is not None and not isinstance(kernel, str):
        raise fail("kernel", f"must be a quoted string such as \"6.12\"; YAML read an "
                             f"unquoted {type(kernel).__name__}: {kernel!r}")
    if prov == "qemu":
        choices = "; ".join(kernels.known(raw["arch"])) or "none"
        if kernel is None:
            raise fail("kernel", f"missing: qemu cells boot one of (image kernel arch): "
                                 f"{choices}")
        if kernels.find(image, kernel, raw["arch"]) is None:
            raise fail("kernel", f"no kernel {kernel!r} of {image} for {raw['arch']} in "
                                 f"testbed/kernels.py; known (image kernel arch): {choices}")
    elif kernel not in (None, HOST_KERNEL):
        raise fail("kernel", f"unknown kernel {kernel!r}: only qemu cells choose a kernel; "
                             f"{prov} cells run the host's ({HOST_KERNEL!r} or leave it out)")

    skip = raw.get("skip_reason")
    if skip is not None and not (isinstance(skip, str) and skip.strip()):
        raise fail("skip_reason", "must be a non-empty string saying why the cell cannot run")
    ssh = _ssh(raw.get("ssh"), prov, skip, base, fail)

    return Cell(id=raw["id"], provisioner=prov, arch=raw["arch"], libc=libc,
                backend=backend, suites=tuple(suites), image=image,
                kernel=kernel or HOST_KERNEL, skip_reason=skip, ssh=ssh, os=os_name,
                compiler=raw.get("compiler", "gcc"), tags=tags, allow_failure=allow_failure)


def _tags(raw: object, fail: Callable[[str, str], MatrixError]) -> tuple[str, ...]:
    """Check a cell's `tags` list."""
    if not isinstance(raw, list) or not raw:
        raise fail("tags", f"must be a non-empty list such as [default], not {raw!r}")
    for tag in raw:
        if why := _one_of(tag, TAGS):
            raise fail("tags", why)
    if len(set(raw)) != len(raw):
        raise fail("tags", "a tag is listed twice")
    return tuple(raw)


def load_matrix(path: Path) -> list[Cell]:
    """Read and validate the matrix at path; raise MatrixError on any problem."""
    try:
        text = path.read_text()
    except OSError as e:
        raise MatrixError(f"{path}: cannot read the matrix: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
        check = _Checker(path, text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise MatrixError(f"{path}{line}: YAML syntax error: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise MatrixError(f"{path}: YAML error: {e}") from e

    if not isinstance(data, dict) or set(data) != {"cells"}:
        raise check.error("must be a mapping with exactly one key, 'cells'")
    if not isinstance(data["cells"], list) or not data["cells"]:
        raise check.error("'cells' must be a non-empty list of cells")

    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data["cells"]):
        cid = raw.get("id") if isinstance(raw, dict) else None
        label = repr(cid) if isinstance(cid, str) and cid else f"cells[{index}] (no id)"

        def fail(key: str, msg: str, index: int = index, label: str = label) -> MatrixError:
            return check.error(msg, index, label, key)

        if not isinstance(raw, dict):
            raise fail("", f"must be a mapping of keys, not {type(raw).__name__}")
        if "id" in raw and (why := cell_id_problem(cid)):
            raise fail("id", why)
        cell = _cell(raw, fail, path.parent)
        if cell.id in seen:
            raise fail("id", f"duplicate id (also cells[{seen[cell.id]}])")
        seen[cell.id] = index
        cells.append(cell)
    return cells


def select(cells: list[Cell], patterns: list[str],
           tags: tuple[str, ...] | None = None) -> list[Cell]:
    """The cells whose id matches any fnmatch pattern, in matrix order.  With
    no pattern: the cells with any of @tags (None: every cell).  A pattern
    that matches nothing is a MatrixError (a typo must not silently run
    nothing)."""
    if not patterns:
        return [c for c in cells if tags is None or set(c.tags) & set(tags)]
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(c.id, pat) for c in cells):
            raise MatrixError(f"no cell matches {pat!r}; cells: {', '.join(c.id for c in cells)}")
    return [c for c in cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]


def github_matrix(cells: list[Cell]) -> dict[str, list[dict[str, str]]]:
    """A GitHub Actions `strategy.matrix` value: one include entry per cell.

    Cells with a skip_reason are included too, with the reason (runnable cells
    have skip_reason ""): the job for such a cell records SKIP and its reason
    instead of running, so the merged report lists every cell and none
    disappears.  Values are strings (suites space-separated) so they drop
    straight into shell steps: `cse run ${{ matrix.cell }}`.
    """
    return {"include": [
        {
            "cell": c.id,
            "provisioner": c.provisioner,
            "image": c.image or "",
            "kernel": c.kernel,
            "arch": c.arch,
            "libc": c.libc,
            "backend": c.backend,
            "os": c.os,
            "compiler": c.compiler,
            "suites": " ".join(c.suites),
            "tags": " ".join(c.tags),
            "allow_failure": "true" if c.allow_failure else "false",
            "skip_reason": c.skip_reason or "",
        }
        for c in cells
    ]}
