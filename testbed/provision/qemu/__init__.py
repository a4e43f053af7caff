"""The `qemu` provisioner: a Debian kernel booted in the QEMU machine of the
cell's arch (provisioner.py; the machines in devices.py, the kernels in
kernels.py, the boots in vm.py and vm_direct.py).  It owns the matrix keys
`image` (the Debian release the kernel comes from) and `kernel` (its series
and flavour), checked against kernels.py when the matrix loads, so a kernel
no code can fetch is an error then, not a cell that fails later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testbed.provision.registry import Capabilities, Fail, Plugin


def _check(raw: Mapping[str, Any], fail: Fail, base: Path) -> dict[str, Any]:
    from testbed.matrix import check_image
    from testbed.provision.qemu import kernels

    image = check_image(raw, fail, required_by="qemu")
    kernel, arch = raw.get("kernel"), raw["arch"]
    choices = "; ".join(kernels.known(arch)) or "none"
    if kernel is None:
        raise fail("kernel", f"missing: qemu cells boot one of (image kernel arch): {choices}")
    if kernels.find(image, kernel, arch) is None:
        raise fail("kernel", f"no kernel {kernel!r} of {image} for {arch} in "
                             f"testbed/provision/qemu/kernels.py; known (image kernel arch): "
                             f"{choices}")
    return {"image": image, "kernel": kernel}


PLUGIN = Plugin(
    name="qemu",
    # each run() is one boot: nothing stays up to keep
    capabilities=Capabilities(kernel_suites=True, keep=False, shell=True),
    provisioner="testbed.provision.qemu.provisioner:QemuProvisioner",
    keys=("image", "kernel"),
    check=_check,
)
