"""The `docker` provisioner: a container of an image built with debootstrap
(provisioner.py, images.py, dockerd.py).  It owns the matrix key `image`,
which names a recipe of docker/ (debian:bookworm -> docker/debian-bookworm.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testbed.provision.registry import Capabilities, Fail, Plugin


def _check(raw: Mapping[str, Any], fail: Fail, base: Path) -> dict[str, Any]:
    from testbed.matrix import check_image

    return {"image": check_image(raw, fail, required_by="docker")}


PLUGIN = Plugin(
    name="docker",
    capabilities=Capabilities(kernel_suites=False, keep=True, shell=True),
    provisioner="testbed.provision.docker.provisioner:DockerProvisioner",
    keys=("image",),
    check=_check,
)
