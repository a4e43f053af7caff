"""The test matrix: the cells of ci/matrix.yaml, validated before anything runs.

A cell is one place the suites run (this host, a container, a VM, a remote
host) with its id doubling as the report key.  The file is a mapping with one
key, `cells`, a list of mappings:

    cells:
      - id: qemu-debian12-6.1-x86_64
        provisioner: qemu        # local, docker, qemu, ssh, vagrant
        image: debian:bookworm   # required for docker, qemu and vagrant
        kernel: "6.1"            # qemu: a Debian kernel series; others: host
        arch: x86_64             # x86_64, i386, arm64
        libc: glibc              # glibc, musl, bsd
        backend: linux           # linux, emulated
        suites: [kk, uk, ku]     # non-empty subset of uu, uk, ku, kk
        skip_reason: "..."       # optional: listed and reported SKIP, never dropped

Every error is a MatrixError naming the file (and line), the cell and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROVISIONERS = ("local", "docker", "qemu", "ssh", "vagrant")
#: provisioners whose cells need an `image` (container image, VM distro, box)
NEEDS_IMAGE = ("docker", "qemu", "vagrant")
#: Debian kernel series a qemu cell may boot (testbed.vm.debian_kernels finds them)
KERNEL_SERIES = ("6.1", "6.12")
HOST_KERNEL = "host"
ARCHES = ("x86_64", "i386", "arm64")
LIBCS = ("glibc", "musl", "bsd")
BACKENDS = ("linux", "emulated")
SUITES = ("uu", "uk", "ku", "kk")

REQUIRED = ("id", "provisioner", "arch", "libc", "backend", "suites")
OPTIONAL = ("image", "kernel", "skip_reason")


class MatrixError(ValueError):
    """ci/matrix.yaml is unreadable or invalid; the message says where and why."""


@dataclass(frozen=True)
class Cell:
    """One place the suites run.  kernel is a series for qemu, else "host"."""

    id: str
    provisioner: str
    arch: str
    libc: str
    backend: str
    suites: tuple[str, ...]
    image: str | None = None
    kernel: str = HOST_KERNEL
    skip_reason: str | None = None


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
            line = self.lines[index].get(key) or self.lines[index][""]
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


def _cell(raw: dict[str, Any], fail: Callable[[str, str], MatrixError]) -> Cell:
    """Check one cell's mapping; fail(key, msg) builds the MatrixError."""
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
        if kernel is None:
            raise fail("kernel", f"missing: qemu cells boot one of {', '.join(KERNEL_SERIES)}")
        if why := _one_of(kernel, KERNEL_SERIES):
            raise fail("kernel", f"{why} (Debian kernel series the testbed boots)")
    elif kernel not in (None, HOST_KERNEL):
        raise fail("kernel", f"unknown kernel {kernel!r}: only qemu cells choose a kernel; "
                             f"{prov} cells run the host's ({HOST_KERNEL!r} or leave it out)")

    skip = raw.get("skip_reason")
    if skip is not None and not (isinstance(skip, str) and skip.strip()):
        raise fail("skip_reason", "must be a non-empty string saying why the cell cannot run")

    return Cell(id=raw["id"], provisioner=prov, arch=raw["arch"], libc=raw["libc"],
                backend=raw["backend"], suites=tuple(suites), image=image,
                kernel=kernel or HOST_KERNEL, skip_reason=skip)


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
        if "id" in raw and not (isinstance(cid, str) and cid):
            raise fail("id", f"must be a non-empty string, not {cid!r}")
        cell = _cell(raw, fail)
        if cell.id in seen:
            raise fail("id", f"duplicate id (also cells[{seen[cell.id]}])")
        seen[cell.id] = index
        cells.append(cell)
    return cells


def select(cells: list[Cell], patterns: list[str]) -> list[Cell]:
    """The cells whose id matches any fnmatch pattern, in matrix order; all if
    no pattern.  A pattern that matches nothing is a MatrixError (a typo must
    not silently run nothing)."""
    if not patterns:
        return list(cells)
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
            "suites": " ".join(c.suites),
            "skip_reason": c.skip_reason or "",
        }
        for c in cells
    ]}
