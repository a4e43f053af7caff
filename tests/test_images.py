"""The image builder (testbed/provision/docker/images.py): recipes, their hash in the tag, the
mirror, a real debootstrap build of bookworm (shared by every test that needs
the image: one build per image and test run, none when Docker's store has
it already), the cache, and a build that fails.

The bullseye and trixie images are built by `make run` (the whole matrix),
not here, to keep `make test` short.
"""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from testbed import debpkg, runonce
from testbed.builds import ROOT
from testbed.matrix import load_matrix
from testbed.provision.base import ProvisionError
from testbed.provision.docker import dockerd, images

BOOKWORM = "debian:bookworm"
docker_group = pytest.mark.xdist_group("docker-bookworm")


def shared_bookworm() -> dict:
    """Ensure the bookworm image once per test run (whichever worker asks
    first; tests/test_docker.py and tests/test_vagrant.py use the same key)."""
    def ensure() -> dict:
        built = images.ensure_image(dockerd.ensure_daemon(),
                                    images.recipe_for_image(BOOKWORM))
        return {"id": built.id, "tag": built.tag, "built": built.built,
                "seconds": built.seconds, "log": str(built.log)}
    return runonce.once("docker-image-debian-bookworm", ensure)


def test_every_docker_cell_has_a_recipe_for_its_suite() -> None:
    cells = [c for c in load_matrix(ROOT / "ci" / "matrix.yaml") if c.provisioner == "docker"]
    assert cells
    for cell in cells:
        assert cell.image is not None
        recipe = images.recipe_for_image(cell.image)
        assert recipe.suite == cell.image.split(":")[1], cell.id
        assert {"gcc", "libc6-dev", "meson", "ninja-build"} <= set(recipe.include), cell.id


def test_tag_hash_follows_the_recipe_content(tmp_path: Path) -> None:
    src = images.RECIPE_DIR / "debian-bookworm.yaml"
    copy = tmp_path / "debian-bookworm.yaml"
    shutil.copyfile(src, copy)
    same = images.load_recipe(copy)
    assert same.tag == images.load_recipe(src).tag  # the path is not hashed, the text is
    assert same.tag.startswith(f"{images.REPOSITORY}/debian-bookworm:")
    copy.write_text(copy.read_text() + "# an edit\n")
    assert images.load_recipe(copy).tag != same.tag


def test_unknown_image_names_the_recipes_there_are() -> None:
    with pytest.raises(ProvisionError) as e:
        images.recipe_for_image("debian:buster")
    assert e.value.culprit == "harness"
    for known in ("debian:bookworm", "debian:bullseye", "debian:trixie"):
        assert known in str(e.value)


def test_malformed_recipe_is_a_harness_error(tmp_path: Path) -> None:
    bad = tmp_path / "debian-x.yaml"
    bad.write_text("suite: bookworm\npackages: [gcc]\n")
    with pytest.raises(ProvisionError, match="unknown keys.*packages") as e:
        images.load_recipe(bad)
    assert e.value.culprit == "harness"


def test_mirror_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(debpkg.MIRROR_VAR, "http://mirror.example/debian/")
    assert debpkg.debian_mirror() == "http://mirror.example/debian"


def test_default_mirror_serves_debian_from_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(debpkg.MIRROR_VAR, raising=False)
    mirror = debpkg.debian_mirror()
    with urllib.request.urlopen(f"{mirror}/dists/bookworm/InRelease", timeout=60) as r:
        assert b"Codename: bookworm" in r.read(4096)


@docker_group
def test_bookworm_image_is_built_from_its_recipe() -> None:
    shared = shared_bookworm()
    recipe = images.recipe_for_image(BOOKWORM)
    assert shared["tag"] == recipe.tag
    image = dockerd.ensure_daemon().images.get(recipe.tag)
    assert image.id == shared["id"]
    assert image.labels[images.LABEL_HASH] == recipe.digest
    assert image.labels[images.LABEL_RECIPE] == "debian-bookworm"
    if shared["built"]:  # built in this run (else an earlier run built it)
        text = Path(shared["log"]).read_text()
        assert "Base system installed successfully" in text
        assert f"built {image.id}" in text
    assert not list(images.WORK_DIR.glob("rootfs-debian-bookworm-*")), "temp root left"


@docker_group
def test_unchanged_recipe_is_a_cache_hit() -> None:
    shared = shared_bookworm()
    t0 = time.monotonic()
    again = images.ensure_image(dockerd.ensure_daemon(), images.recipe_for_image(BOOKWORM))
    assert (again.id, again.built) == (shared["id"], False)
    assert time.monotonic() - t0 < 5


def test_dropping_older_images_never_fails_the_build(tmp_path: Path) -> None:
    """The clean-up after a build is best effort: a daemon that does not
    answer in time (in `make run`, one busy under load; here a socket that
    takes the request and never answers) keeps the older images, and the
    cell goes on with the image it built."""
    path = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
        busy.bind(str(path))
        busy.listen(8)
        client = docker.DockerClient(base_url=f"unix://{path}", timeout=0.5, version="1.41")
        t0 = time.monotonic()
        images._drop_older(client, images.recipe_for_image(BOOKWORM), keep="sha256:none")
        assert time.monotonic() - t0 < 10


@docker_group
def test_failed_build_is_a_tool_error_with_its_log(tmp_path: Path) -> None:
    recipe_path = tmp_path / "cse-test-broken.yaml"
    recipe_path.write_text("suite: bookworm\ninclude: [cse-no-such-package]\n")
    recipe = images.load_recipe(recipe_path)
    said: list[str] = []
    client = dockerd.ensure_daemon()
    with pytest.raises(ProvisionError) as e:
        images.ensure_image(client, recipe, progress=said.append)
    assert e.value.culprit == "tool"
    assert e.value.log == recipe.log and "cse-no-such-package" in recipe.log.read_text()
    assert any("debootstrap bookworm" in m for m in said)      # progress was shown
    assert not list(images.WORK_DIR.glob("rootfs-cse-test-broken-*"))  # cleaned up
    assert not client.images.list(name=f"{images.REPOSITORY}/cse-test-broken")
    recipe.log.unlink()
