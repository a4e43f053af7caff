"""Provisioners: one module per matrix `provisioner` value (see base.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

from testbed.matrix import Cell
from testbed.provision.base import CommandResult, Provisioner, ProvisionError
from testbed.results import Culprit

__all__ = ["CommandResult", "Culprit", "ProvisionError", "Provisioner", "provisioner_for"]

#: matrix provisioner value -> module in this package defining the class
_MODULES = {"local": "local", "docker": "docker", "qemu": "qemu", "ssh": "ssh",
            "vagrant": "vagrant"}


def provisioner_for(cell: Cell, logdir: Path) -> Provisioner:
    """The provisioner of @cell, logging under @logdir.  Imported lazily so
    that a missing SDK only matters to the cells that need it."""
    module = importlib.import_module(f"testbed.provision.{_MODULES[cell.provisioner]}")
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Provisioner) and \
                getattr(obj, "name", None) == cell.provisioner:
            return obj(cell, logdir)
    raise ProvisionError(f"testbed.provision.{cell.provisioner} defines no provisioner "
                         f"named {cell.provisioner!r}", culprit="harness")
