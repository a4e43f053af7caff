"""The one registry of provisioners: every folder of testbed/provision/ whose
__init__.py declares a PLUGIN.

A plugin says, without importing anything heavy (no Docker SDK, no paramiko):

  - its name, the matrix's `provisioner` value;
  - the matrix keys it owns beyond the common ones, and how to check them
    (matrix.py asks it: a docker cell needs an `image`, a qemu cell a
    `kernel` of testbed/provision/qemu/kernels.py, an ssh cell `ssh:`);
  - what it can do (Capabilities), so that callers ask the plugin and never
    the provisioner's type;
  - where its Provisioner class is, imported only when one of its cells runs.

A new provisioner is a new folder: nothing else lists them.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testbed.matrix import Cell, MatrixError
    from testbed.provision.base import Provisioner

#: fail(key, message): the MatrixError naming the matrix file, line, cell and key
Fail = Callable[[str, str], "MatrixError"]
#: check(raw cell mapping, fail, folder of the matrix file) -> the Cell fields
#: its keys set (image, kernel, settings)
KeyCheck = Callable[[Mapping[str, Any], Fail, Path], dict[str, Any]]


@dataclass(frozen=True)
class Capabilities:
    """What a provisioner's cells can do."""

    #: boots a kernel of its own, into which the kernel suites (kk, uk, ku)
    #: load the modules built for it
    kernel_suites: bool = False
    #: stop(keep=True) leaves a failed cell up for `cse shell` (a container)
    keep: bool = False
    #: shell_argv() opens an interactive shell in the cell
    shell: bool = True


def no_keys(raw: Mapping[str, Any], fail: Fail, base: Path) -> dict[str, Any]:
    """The check of a provisioner that owns no matrix key."""
    return {}


@dataclass(frozen=True)
class Plugin:
    """One provisioner, as the rest of the testbed sees it."""

    name: str
    capabilities: Capabilities
    #: "module:Class" of its Provisioner
    provisioner: str
    #: the matrix keys it owns (beyond the common ones: testbed.matrix.COMMON)
    keys: tuple[str, ...] = ()
    check: KeyCheck = no_keys

    def load(self) -> type[Provisioner]:
        """Its Provisioner class (ModuleNotFoundError when an SDK it needs,
        docker or paramiko, is not installed)."""
        module, _, cls = self.provisioner.partition(":")
        found: type[Provisioner] = getattr(importlib.import_module(module), cls)
        return found


@functools.cache
def plugins() -> dict[str, Plugin]:
    """Name -> plugin, for every subpackage of testbed.provision with a PLUGIN."""
    import testbed.provision as package

    found: dict[str, Plugin] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        plugin = getattr(module, "PLUGIN", None)
        if isinstance(plugin, Plugin):
            found[plugin.name] = plugin
    return found


def names() -> tuple[str, ...]:
    return tuple(plugins())


def plugin(name: str) -> Plugin:
    """The plugin of provisioner @name; LookupError naming the known ones."""
    try:
        return plugins()[name]
    except KeyError:
        raise LookupError(f"no provisioner {name!r}; known: {', '.join(names())}") from None


def with_capability(what: str) -> tuple[str, ...]:
    """The provisioners that can do @what (a Capabilities field)."""
    return tuple(n for n, p in plugins().items() if getattr(p.capabilities, what))


def provisioner_for(cell: Cell, logdir: Path) -> Provisioner:
    """The provisioner of @cell, logging under @logdir.  Its module is
    imported now, so that a missing SDK only matters to the cells that
    need it."""
    return plugin(cell.provisioner).load()(cell, logdir)
