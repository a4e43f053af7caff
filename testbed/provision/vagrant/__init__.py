"""The `vagrant` provisioner: a developer VM from vagrant/<os>/Vagrantfile
(provisioner.py).  It owns the matrix key `image`, the Vagrant box."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testbed.provision.registry import Capabilities, Fail, Plugin


def _check(raw: Mapping[str, Any], fail: Fail, base: Path) -> dict[str, Any]:
    from testbed.matrix import check_image

    return {"image": check_image(raw, fail, required_by="vagrant")}


PLUGIN = Plugin(
    name="vagrant",
    # its VM boots a kernel of its own: the cell script builds the modules
    # in it, against that kernel's headers, and the kernel suites load them
    capabilities=Capabilities(kernel_suites=True, keep=True, shell=True),
    provisioner="testbed.provision.vagrant.provisioner:VagrantProvisioner",
    keys=("image",),
    check=_check,
)
