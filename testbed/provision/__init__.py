"""Provisioners: one folder per matrix `provisioner` value, each declaring
its PLUGIN (registry.py) on the one base class (base.py)."""

from __future__ import annotations

from testbed.provision.base import CommandResult, Provisioner, ProvisionError
from testbed.provision.registry import Capabilities, Plugin, plugin, provisioner_for
from testbed.results import Culprit

__all__ = ["Capabilities", "CommandResult", "Culprit", "Plugin", "ProvisionError",
           "Provisioner", "plugin", "provisioner_for"]
