"""The test matrix: the cells of ci/matrix.yaml, validated before anything runs.

A cell is one place the suites run (this host, a container, a VM, a remote
host) with its id doubling as the report key.  The file is a mapping with one
key, `cells`, a list of mappings:

    cells:
      - id: qemu-debian12-6.1-x86_64
        provisioner: qemu        # a folder of testbed/provision/: local, docker, qemu, ...
        image: debian:bookworm   # docker, qemu, vagrant (required), ssh (shown)
        kernel: "6.1"            # qemu: series[-rt] (testbed/provision/qemu/kernels.py)
        arch: x86_64             # x86_64, i386, arm64, s390x, ppc64
        os: linux                # linux (default), freebsd
        libc: glibc              # glibc, musl, bsd (FreeBSD's)
        compiler: gcc            # gcc (default), clang, zig
        backend: linux           # linux, emulated, freebsd
        suites: [build, kk]      # non-empty subset of build, uu, uk, ku, kk, kv
        tags: [default]          # tiers: default (the default), extended, canary
        allow_failure: false     # true: reported, never fails the run (the canary)
        skip_reason: "..."       # optional: listed and reported SKIP, never dropped
        ssh:                     # ssh cells only: where to connect (provision/ssh/)
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

The common keys are checked here; the others belong to the cell's
provisioner, whose plugin (testbed/provision/<name>/__init__.py) checks them
and turns them into the cell's image, kernel and settings.  Every error is a
MatrixError naming the file (and line), the cell and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed.provision import registry
from testbed.safepath import cell_id_problem

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
#: the keys every cell may have; a provisioner's plugin owns the others
COMMON = (*REQUIRED, "os", "compiler", "tags", "allow_failure", "skip_reason", "kernel")


class MatrixError(ValueError):
    """ci/matrix.yaml is unreadable or invalid; the message says where and why."""


@dataclass(frozen=True)
class Cell:
    """One place the suites run.  kernel names a testbed.provision.qemu.kernels entry for
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
    os: str = "linux"
    compiler: str = "gcc"
    tags: tuple[str, ...] = ("default",)
    allow_failure: bool = False
    #: what the provisioner's own keys said, as its plugin checked them
    #: (ssh: ("ssh", SshTarget)); (name, value) pairs, so a Cell stays hashable
    settings: tuple[tuple[str, Hashable], ...] = ()

    def setting(self, name: str) -> Any:  # noqa: ANN401 - the plugin knows the type
        """The provisioner's setting @name, None when the cell has none."""
        return dict(self.settings).get(name)

    @property
    def runs_suites(self) -> tuple[str, ...]:
        """The suites that run code (all but `build`)."""
        return tuple(s for s in self.suites if s != "build")


def key_lines(text: str, list_key: str = "cells") -> list[dict[str, int]]:
    """Per item of the list under @list_key, the 1-based line of each of its
    keys ("" = the item itself; nested keys as "ssh.port")."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return []
    lines = []
    for key, value in root.value:
        if key.value == list_key and isinstance(value, yaml.SequenceNode):
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


class Checker:
    """Builds the error messages for one YAML file holding a list of items
    (the matrix's cells, the known issues): file:line, the item, the key."""

    def __init__(self, path: Path, text: str, list_key: str = "cells",
                 item: str = "cell") -> None:
        self.path, self.item = path, item
        self.lines = key_lines(text, list_key)

    def error(self, msg: str, index: int | None = None, label: str = "",
              key: str = "") -> MatrixError:
        line = None
        if index is not None and index < len(self.lines):
            keys = self.lines[index]
            # a missing nested key ("ssh.host") points at its parent ("ssh")
            line = keys.get(key) or keys.get(key.partition(".")[0]) or keys[""]
        where = f"{self.path}:{line}" if line else f"{self.path}"
        item = f" {self.item} {label}:" if label else ""
        return MatrixError(f"{where}:{item}{f' key {key!r}:' if key else ''} {msg}")


def read_yaml(path: Path, what: str, list_key: str = "cells",
              item: str = "cell") -> tuple[Any, Checker]:
    """The parsed YAML of @path and its Checker; MatrixError (file:line) for
    a file that cannot be read or parsed (@what names it: "the matrix")."""
    try:
        text = path.read_text()
    except OSError as e:
        raise MatrixError(f"{path}: cannot read {what}: {e.strerror}") from e
    try:
        return yaml.safe_load(text), Checker(path, text, list_key, item)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise MatrixError(f"{path}{line}: YAML syntax error: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise MatrixError(f"{path}: YAML error: {e}") from e


def one_of(value: object, allowed: tuple[str, ...]) -> str | None:
    """None if value is one of allowed, else why not."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__} {value!r}"
    if value not in allowed:
        return f"unknown value {value!r}; known: {', '.join(allowed)}"
    return None


def _cell(raw: dict[str, Any], fail: Callable[[str, str], MatrixError],
          base: Path = Path(".")) -> Cell:
    """Check one cell's mapping; fail(key, msg) builds the MatrixError.
    @base is the matrix file's folder (relative paths in the cell start there)."""
    for key in REQUIRED:
        if key not in raw:
            raise fail(key, "missing required key")
    if why := one_of(raw["provisioner"], registry.names()):
        raise fail("provisioner", why)
    prov = raw["provisioner"]
    plugin = registry.plugin(prov)
    for key in raw:
        if key in COMMON or key in plugin.keys:
            continue
        if owners := [n for n, p in registry.plugins().items() if key in p.keys]:
            raise fail(key, f"a key of {', '.join(owners)} cells, not of {prov} cells")
        raise fail(key, f"unknown key; known: {', '.join(COMMON)}, and for {prov} cells: "
                        f"{', '.join(plugin.keys) or 'none'}")
    for key, allowed in (("arch", ARCHES), ("libc", LIBCS), ("backend", BACKENDS)):
        if why := one_of(raw[key], allowed):
            raise fail(key, why)
    for key, allowed in (("os", OSES), ("compiler", COMPILERS)):
        if key in raw and (why := one_of(raw[key], allowed)):
            raise fail(key, why)
    os_name, libc, backend = raw.get("os", "linux"), raw["libc"], raw["backend"]
    if (libc == "bsd") != (os_name == "freebsd"):
        raise fail("libc", f"libc {libc!r} does not go with os {os_name!r} "
                           f"(FreeBSD's libc is 'bsd', and only FreeBSD has it)")
    if backend == "linux" and os_name != "linux" or backend == "freebsd" and os_name != "freebsd":
        raise fail("backend", f"the {backend} backend runs on {backend}, not {os_name}")

    suites = _suites(raw["suites"], os_name, fail)
    tags = _tags(raw.get("tags", ["default"]), fail)
    allow_failure = raw.get("allow_failure", False)
    if not isinstance(allow_failure, bool):
        raise fail("allow_failure", f"must be true or false, not {allow_failure!r}")
    skip = raw.get("skip_reason")
    if skip is not None and not (isinstance(skip, str) and skip.strip()):
        raise fail("skip_reason", "must be a non-empty string saying why the cell cannot run")
    kernel = raw.get("kernel")
    if kernel is not None and not isinstance(kernel, str):
        raise fail("kernel", f"must be a quoted string such as \"6.12\"; YAML read an "
                             f"unquoted {type(kernel).__name__}: {kernel!r}")
    if "kernel" not in plugin.keys and kernel not in (None, HOST_KERNEL):
        choosers = " and ".join(n for n, p in registry.plugins().items() if "kernel" in p.keys)
        raise fail("kernel", f"unknown kernel {kernel!r}: only {choosers} cells choose a "
                             f"kernel; {prov} cells run the host's ({HOST_KERNEL!r} or leave "
                             f"it out)")

    own = plugin.check(raw, fail, base)  # image, kernel, settings
    return Cell(id=raw["id"], provisioner=prov, arch=raw["arch"], libc=libc,
                backend=backend, suites=suites, image=own.get("image"),
                kernel=own.get("kernel") or HOST_KERNEL, skip_reason=skip, os=os_name,
                compiler=raw.get("compiler", "gcc"), tags=tags, allow_failure=allow_failure,
                settings=tuple(own.get("settings", ())))


def _suites(suites: object, os_name: str, fail: Callable[[str, str], MatrixError]
            ) -> tuple[str, ...]:
    """Check a cell's `suites` list."""
    if not isinstance(suites, list):
        raise fail("suites", f"must be a list such as [uu], not {type(suites).__name__}")
    if not suites:
        raise fail("suites", f"must name at least one of {', '.join(SUITES)}")
    for suite in suites:
        if why := one_of(suite, SUITES):
            raise fail("suites", why)
    if len(set(suites)) != len(suites):
        raise fail("suites", "a suite is listed twice")
    if os_name != "linux" and (kernel_suites := [x for x in suites if x in KERNEL_SUITES]):
        raise fail("suites", f"{', '.join(kernel_suites)} load Linux kernel modules; "
                             f"an {os_name} cell cannot run them")
    return tuple(suites)


def check_image(raw: Mapping[str, Any], fail: Callable[[str, str], MatrixError],
                required_by: str | None) -> str | None:
    """A plugin's check of the `image` key (a container image, a VM's distro,
    a box): a non-empty string, required when @required_by names the
    provisioner that needs one."""
    image = raw.get("image")
    if image is not None and not (isinstance(image, str) and image):
        raise fail("image", f"must be a non-empty string, not {image!r}")
    if image is None and required_by:
        raise fail("image", f"missing: {required_by} cells need an image (e.g. "
                            f"debian:bookworm)")
    return image


def _tags(raw: object, fail: Callable[[str, str], MatrixError]) -> tuple[str, ...]:
    """Check a cell's `tags` list."""
    if not isinstance(raw, list) or not raw:
        raise fail("tags", f"must be a non-empty list such as [default], not {raw!r}")
    for tag in raw:
        if why := one_of(tag, TAGS):
            raise fail("tags", why)
    if len(set(raw)) != len(raw):
        raise fail("tags", "a tag is listed twice")
    return tuple(raw)


def load_matrix(path: Path) -> list[Cell]:
    """Read and validate the matrix at path; raise MatrixError on any problem."""
    data, check = read_yaml(path, "the matrix")

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
