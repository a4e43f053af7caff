"""ci/matrix.yaml and the `cse` command's first slice: list and matrix --github."""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from testbed import cli
from testbed.cli import common
from testbed.matrix import MatrixError, github_matrix, load_matrix, select
from testbed.provision.ssh import SshTarget, target_of

DEFAULT = common.DEFAULT_MATRIX

GOOD = """\
cells:
  - id: local-linux-x86_64
    provisioner: local
    arch: x86_64
    libc: glibc
    backend: linux
    suites: [uu]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def _cell(**over: object) -> str:
    """A one-cell matrix: a qemu cell with keys replaced (None drops a key)."""
    keys: dict[str, object] = {
        "id": "qemu-x", "provisioner": "qemu", "image": "debian:bookworm", "kernel": "'6.1'",
        "arch": "x86_64", "libc": "glibc", "backend": "linux", "suites": "[kk, uk]",
    }
    keys.update(over)
    body = "\n".join(f"    {k}: {v}" for k, v in keys.items() if v is not None)
    return "cells:\n  -\n" + body + "\n"


def test_default_matrix_has_the_cells() -> None:
    cells = {c.id: c for c in load_matrix(DEFAULT)}
    local = [c for c in cells.values() if c.provisioner == "local"]
    # every axis the product claims, on this host
    assert {c.backend for c in local} == {"linux", "emulated", "freebsd"}
    assert {c.arch for c in local} == {"x86_64", "i386", "arm64", "s390x", "ppc64"}
    assert {c.libc for c in local} == {"glibc", "musl", "bsd"}
    assert {c.compiler for c in local} == {"gcc", "clang", "zig"}
    assert {c.os for c in local} == {"linux", "freebsd"}
    assert all(c.suites[0] == "build" for c in cells.values())  # every cell builds first
    docker = [c for c in cells.values() if c.provisioner == "docker"]
    assert sorted(c.image for c in docker) == ["debian:bookworm", "debian:bullseye",
                                               "debian:trixie"]
    assert not any(c.skip_reason for c in docker)  # runnable here, and run
    qemu = [c for c in cells.values() if c.provisioner == "qemu"]
    assert {"6.1", "6.12"} <= {c.kernel for c in qemu}
    assert all(set(c.suites) == {"build", "uu", "kk", "uk", "ku", "kv"} and not c.skip_reason
               for c in qemu)
    others = [c for c in cells.values() if c.provisioner in ("ssh", "vagrant")
              and c.image != "cse/debian12"]
    assert {c.arch for c in others} >= {"arm64"} and len(others) == 2
    assert all(c.skip_reason for c in others)
    # the developer VM whose box is built here runs, kernel suites included
    vm = cells["vagrant-debian12-x86_64"]
    assert vm.image == "cse/debian12" and not vm.skip_reason
    assert set(vm.suites) == {"build", "uu", "kk", "uk", "ku"}
    assert all(not c.skip_reason for c in local)


def test_default_tier_runs_at_least_20_cells_here() -> None:
    """The product's promise on this Linux host: at least 20 cells of the
    default tier that run suites beyond `build` (FreeBSD's are build-only
    here, the canary may fail, SKIP cells do not count)."""
    cells = select(load_matrix(DEFAULT), [], ("default",))
    running = [c for c in cells if c.os == "linux" and not c.skip_reason and c.runs_suites
               and not c.allow_failure]
    assert len(running) >= 20, [c.id for c in running]
    canary = [c for c in load_matrix(DEFAULT) if "canary" in c.tags]
    assert canary and all(c.allow_failure for c in canary)


@pytest.mark.parametrize(("text", "cell", "key", "why"), [
    (_cell(colour="red"), "'qemu-x'", "colour", "unknown key"),
    (_cell(arch=None), "'qemu-x'", "arch", "missing"),
    (_cell(id=None), "cells[0]", "id", "missing"),
    (_cell(provisioner="lxc"), "'qemu-x'", "provisioner", "unknown value 'lxc'"),
    (_cell(kernel="'4.19'"), "'qemu-x'", "kernel", "no kernel '4.19' of debian:bookworm"),
    (_cell(arch="s390x"), "'qemu-x'", "kernel", "for s390x"),
    (_cell(compiler="icc"), "'qemu-x'", "compiler", "unknown value 'icc'"),
    (_cell(os="windows"), "'qemu-x'", "os", "unknown value 'windows'"),
    (_cell(os="freebsd"), "'qemu-x'", "libc", "does not go with os 'freebsd'"),
    (_cell(libc="bsd"), "'qemu-x'", "libc", "does not go with os 'linux'"),
    (_cell(backend="freebsd"), "'qemu-x'", "backend", "runs on freebsd, not linux"),
    (_cell(os="freebsd", libc="bsd", backend="emulated", provisioner="local", image=None,
           kernel=None), "'qemu-x'", "suites", "an freebsd cell cannot run them"),
    (_cell(tags="[nightly]"), "'qemu-x'", "tags", "unknown value 'nightly'"),
    (_cell(tags="[]"), "'qemu-x'", "tags", "non-empty list"),
    (_cell(allow_failure="maybe"), "'qemu-x'", "allow_failure", "true or false"),
    (_cell(kernel="6.10"), "'qemu-x'", "kernel", "quoted string"),
    (_cell(kernel=None), "'qemu-x'", "kernel", "missing"),
    (_cell(provisioner="local", image=None, kernel="'6.1'"), "'qemu-x'", "kernel",
     "only qemu"),
    (_cell(image=None), "'qemu-x'", "image", "need an image"),
    (_cell(arch="riscv64"), "'qemu-x'", "arch", "unknown value"),
    (_cell(libc="uclibc"), "'qemu-x'", "libc", "unknown value"),
    (_cell(backend="windows"), "'qemu-x'", "backend", "unknown value"),
    (_cell(suites="[]"), "'qemu-x'", "suites", "at least one"),
    (_cell(suites="[uu, xx]"), "'qemu-x'", "suites", "unknown value 'xx'"),
    (_cell(suites="uu"), "'qemu-x'", "suites", "must be a list"),
    (_cell(suites="[uu, uu]"), "'qemu-x'", "suites", "twice"),
    (_cell(id="[a]"), "cells[0]", "id", "must be a string"),
    (_cell(skip_reason="''"), "'qemu-x'", "skip_reason", "non-empty"),
    (GOOD + GOOD.removeprefix("cells:\n"), "'local-linux-x86_64'", "id", "duplicate"),
])
def test_validation_error_names_file_cell_and_key(tmp_path: Path, text: str, cell: str,
                                                  key: str, why: str) -> None:
    with pytest.raises(MatrixError) as err:
        load_matrix(_write(tmp_path, text))
    msg = str(err.value)
    assert "m.yaml" in msg and f"cell {cell}" in msg and f"key {key!r}" in msg and why in msg


def test_error_gives_the_line_of_the_key(tmp_path: Path) -> None:
    text = GOOD + GOOD.removeprefix("cells:\n").replace("linux-x86", "emulated-x86") \
        .replace("arch: x86_64", "arch: sparc")
    with pytest.raises(MatrixError, match=r"m\.yaml:10: cell 'local-emulated-x86_64': key 'arch'"):
        load_matrix(_write(tmp_path, text))


@pytest.mark.parametrize(("text", "why"), [
    ("cells: [\n  {id: a,\n", "m.yaml:3: YAML syntax error"),
    ("- a\n", "exactly one key, 'cells'"),
    ("cells: []\n", "non-empty list"),
    ("cells:\n  - just-a-string\n", "cell cells[0] (no id): must be a mapping"),
])
def test_file_level_errors(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(MatrixError) as err:
        load_matrix(_write(tmp_path, text))
    assert why in str(err.value) and "m.yaml" in str(err.value)


def test_select_by_tag(tmp_path: Path) -> None:
    text = GOOD + """\
  - id: local-linux-x86_64-clang
    provisioner: local
    arch: x86_64
    libc: glibc
    compiler: clang
    backend: linux
    suites: [build, uu]
    tags: [extended]
  - id: qemu-debian12-6.12-x86_64
    provisioner: qemu
    image: debian:bookworm
    kernel: "6.12"
    arch: x86_64
    libc: glibc
    backend: linux
    suites: [kk]
    tags: [canary]
    allow_failure: true
"""
    cells = load_matrix(_write(tmp_path, text))
    assert cells[1].compiler == "clang" and cells[1].runs_suites == ("uu",)
    assert cells[2].allow_failure and not cells[0].allow_failure
    ids = [c.id for c in select(cells, [], ("default", "canary"))]
    assert ids == ["local-linux-x86_64", "qemu-debian12-6.12-x86_64"]
    assert [c.id for c in select(cells, [], ("extended",))] == ["local-linux-x86_64-clang"]
    assert len(select(cells, [], None)) == 3
    # a named cell runs whatever its tier
    assert [c.id for c in select(cells, ["*clang"], ("default",))] == ["local-linux-x86_64-clang"]


def test_select() -> None:
    cells = load_matrix(DEFAULT)
    assert select(cells, []) == cells
    qemu = [c.id for c in select(cells, ["qemu-*"])]
    assert qemu == [c.id for c in cells if c.provisioner == "qemu"]
    assert {"qemu-debian12-6.1-x86_64", "qemu-debian12-6.1-arm64"} <= set(qemu)
    assert [c.id for c in select(cells, ["qemu-debian12-*-x86_64"])] == [
        "qemu-debian12-6.1-x86_64", "qemu-debian12-6.12-x86_64", "qemu-debian12-6.1-rt-x86_64"]
    both = select(cells, ["local-linux-x86_64", "local-*"])
    assert [c.id for c in both] == [c.id for c in cells if c.id.startswith("local-")]
    with pytest.raises(MatrixError, match=re.escape("no cell matches 'qemu-debian99-*'")):
        select(cells, ["local-*", "qemu-debian99-*"])


def test_github_matrix_shape() -> None:
    cells = load_matrix(DEFAULT)
    include = github_matrix(cells)["include"]
    assert [e["cell"] for e in include] == [c.id for c in cells]
    keys = {"cell", "provisioner", "image", "kernel", "arch", "libc", "backend", "suites",
            "skip_reason", "os", "compiler", "tags", "allow_failure"}
    assert all(set(e) == keys and all(isinstance(v, str) for v in e.values()) for e in include)
    qemu = next(e for e in include if e["cell"] == "qemu-debian12-6.1-x86_64")
    assert qemu["suites"] == "build uu kk uk ku kv" and qemu["kernel"] == "6.1"
    assert qemu["skip_reason"] == ""
    docker = next(e for e in include if e["provisioner"] == "docker")
    assert docker["skip_reason"] == "" and docker["image"] == "debian:bullseye"
    ssh = next(e for e in include if e["provisioner"] == "ssh")
    assert ssh["skip_reason"] == "no arm64 host is reachable over ssh from this machine"


def test_cli_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                  tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    report = tmp_path / "matrix.json"
    report.write_text(json.dumps({"cells": {"local-linux-x86_64": {"status": "pass"}}}))
    assert cli.main(["list", "--report-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for c in load_matrix(DEFAULT):
        assert c.id in out
    assert "PASS" in out and "never run" in out and "no arm64 host is reachable" in out


def test_cli_list_without_report(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert cli.main(["list", "--matrix", str(_write(tmp_path, GOOD)),
                     "--report-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "local-linux-x86_64" in out and "never run" in out and "qemu" not in out


def test_cli_matrix_github(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["matrix", "--github"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line, for $GITHUB_OUTPUT
    jobs = json.loads(out)["include"]  # a job per cell: the matrix fits GitHub's cap
    assert [{k: v for k, v in j.items() if k not in ("job", "cells")} for j in jobs] == \
        github_matrix(load_matrix(DEFAULT))["include"]
    assert all(j["job"] == j["cells"] == j["cell"] for j in jobs)


def test_cli_matrix_error_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = _write(tmp_path, _cell(arch="sparc"))
    assert cli.main(["--matrix", str(bad), "matrix", "--github"]) == 2
    err = capsys.readouterr().err
    assert "m.yaml" in err and "'arch'" in err
    assert cli.main(["list", "no-such-cell"]) == 2
    assert "no cell matches 'no-such-cell'" in capsys.readouterr().err


# -- ssh cells: where to connect ------------------------------------------------

#: an ssh cell for _cell(): no image, no kernel choice
SSH = {"provisioner": "ssh", "image": None, "kernel": None}
#: back to _cell()'s qemu cell
QEMU = {"provisioner": "qemu", "image": "debian:bookworm", "kernel": "'6.1'"}


@pytest.mark.parametrize(("over", "key", "why"), [
    ({}, "ssh.host", "missing: ssh cells need ssh"),
    ({"ssh": "{user: root}"}, "ssh.host", "missing: the host"),
    ({"ssh": "{host: ''}"}, "ssh.host", "non-empty string"),
    ({"ssh": "{host: [a]}"}, "ssh.host", "non-empty string"),
    ({"ssh": "{host: b, user: 5}"}, "ssh.user", "non-empty string"),
    ({"ssh": "{host: b, port: 0}"}, "ssh.port", "1..65535, not 0"),
    ({"ssh": "{host: b, port: 65536}"}, "ssh.port", "1..65535"),
    ({"ssh": "{host: b, port: '22'}"}, "ssh.port", "not '22'"),
    ({"ssh": "{host: b, port: yes}"}, "ssh.port", "not True"),
    ({"ssh": "{host: b, key: ''}"}, "ssh.key", "non-empty path"),
    ({"ssh": "{host: b, known_hosts: 7}"}, "ssh.known_hosts", "non-empty path"),
    ({"ssh": "{host: b, insecure_accept_new: 'yes'}"}, "ssh.insecure_accept_new",
     "true or false"),
    ({"ssh": "{host: b, colour: red}"}, "ssh.colour", "unknown key; known: host, user"),
    ({"ssh": "board.lan"}, "ssh", "must be a mapping"),
    ({"ssh": "{host: b}", **QEMU}, "ssh", "a key of ssh cells, not of qemu cells"),
    ({"ssh": "{user: root}", "skip_reason": "'no board'"}, "ssh.host", "missing"),
])
def test_ssh_validation_error_names_file_cell_and_key(tmp_path: Path, over: dict[str, str],
                                                      key: str, why: str) -> None:
    with pytest.raises(MatrixError) as err:
        load_matrix(_write(tmp_path, _cell(**(SSH | over))))
    msg = str(err.value)
    assert "m.yaml" in msg and "cell 'qemu-x'" in msg and f"key {key!r}" in msg and why in msg


SSH_CELL = """\
cells:
  - id: ssh-board
    provisioner: ssh
    arch: arm64
    libc: glibc
    backend: linux
    suites: [uu]
"""


@pytest.mark.parametrize(("ssh", "line", "key"), [
    ("    ssh:\n      host: board\n      port: 0\n", 10, "ssh.port"),  # the nested key's line
    ("    ssh:\n      user: root\n", 8, "ssh.host"),  # missing: the line of `ssh:`
    ("", 2, "ssh.host"),                             # no ssh at all: the cell's line
])
def test_ssh_error_gives_the_line(tmp_path: Path, ssh: str, line: int, key: str) -> None:
    with pytest.raises(MatrixError, match=rf"m\.yaml:{line}: cell 'ssh-board': key '{key}':"):
        load_matrix(_write(tmp_path, SSH_CELL + ssh))


def test_ssh_target_defaults_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (cell,) = load_matrix(_write(tmp_path, SSH_CELL + "    ssh: {host: board.lan}\n"))
    assert target_of(cell) == SshTarget(host="board.lan", user="root", port=22, key=None,
                                 known_hosts=None, insecure_accept_new=False)
    text = SSH_CELL + ("    ssh:\n      host: 10.0.0.7\n      user: ci\n      port: 2222\n"
                       "      key: ~/.ssh/id_board\n      known_hosts: keys/known\n"
                       "      insecure_accept_new: true\n")
    (cell,) = load_matrix(_write(tmp_path, text))
    assert target_of(cell) == SshTarget(host="10.0.0.7", user="ci", port=2222,
                                 key=tmp_path / "home" / ".ssh" / "id_board",
                                 known_hosts=tmp_path / "keys" / "known",  # beside m.yaml
                                 insecure_accept_new=True)
    assert hash(cell) == hash(replace(cell))  # still a frozen, hashable value
    with pytest.raises(FrozenInstanceError):
        target_of(cell).port = 22  # type: ignore[misc]


def test_ssh_cell_may_skip_without_a_host() -> None:
    arm = next(c for c in load_matrix(DEFAULT) if c.id == "ssh-debian12-arm64")
    assert target_of(arm) is None and arm.skip_reason


def test_github_matrix_keeps_its_shape_with_ssh_cells(tmp_path: Path) -> None:
    text = GOOD + SSH_CELL.removeprefix("cells:\n") + "    ssh: {host: board, port: 2222}\n"
    local, board = github_matrix(load_matrix(_write(tmp_path, text)))["include"]
    assert local == {"cell": "local-linux-x86_64", "provisioner": "local", "image": "",
                     "kernel": "host", "arch": "x86_64", "libc": "glibc", "backend": "linux",
                     "suites": "uu", "skip_reason": "", "os": "linux", "compiler": "gcc",
                     "tags": "default", "allow_failure": "false"}
    # the job reads where to connect from the matrix file, not from the CI matrix
    assert set(board) == set(local) and board["provisioner"] == "ssh"
