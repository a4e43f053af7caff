"""The `local` provisioner: this host, as it is (provisioner.py).  It owns
no matrix key: the cell's arch, libc and compiler choose the host build."""

from __future__ import annotations

from testbed.provision.registry import Capabilities, Plugin

PLUGIN = Plugin(
    name="local",
    # the host is always up: there is nothing to keep
    capabilities=Capabilities(kernel_suites=False, keep=False, shell=True),
    provisioner="testbed.provision.local.provisioner:LocalProvisioner",
)
