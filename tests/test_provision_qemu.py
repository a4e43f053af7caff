"""testbed.provision.qemu: kernel choice, clear errors, and one real boot of
the qemu-debian12-6.1-x86_64 cell through the runner (with uu added, so all
three runnable suites come back from one VM)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from testbed import runonce
from testbed.builds import BUILD_ROOT
from testbed.matrix import load_matrix
from testbed.provision import provisioner_for
from testbed.provision.qemu.provisioner import QemuProvisioner
from testbed.provision.qemu.vm import INSTALL_HINT, vng_path
from testbed.results import CellResult
from testbed.runner import RunOptions, cell_dir, run_cell

MATRIX = {c.id: c for c in load_matrix(Path(__file__).parent.parent / "ci/matrix.yaml")}
CELL = MATRIX["qemu-debian12-6.1-x86_64"]


def _fake_root(tmp_path: Path, releases: dict[str, bool]) -> Path:
    """/boot/vmlinuz-<release> that are not kernels; with headers where True."""
    for release, headers in releases.items():
        (tmp_path / "boot").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"boot/vmlinuz-{release}").write_text("not a kernel\n")
        if headers:
            (tmp_path / f"usr/src/linux-headers-{release}").mkdir(parents=True)
    return tmp_path


def _rooted(root: Path) -> type[QemuProvisioner]:
    class Rooted(QemuProvisioner):
        pass
    Rooted.root = root  # type: ignore[misc]
    return Rooted


def test_provisioner_for_qemu(tmp_path: Path) -> None:
    p = provisioner_for(CELL, tmp_path)
    assert isinstance(p, QemuProvisioner) and p.shares_host_fs
    assert p.unavailable() is None  # an x86_64 Linux host: never a SKIP here


def test_missing_kernel_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    """Installable here, so never a silent SKIP: ERROR, culprit tool."""
    empty = tmp_path / "root"
    empty.mkdir()
    r = run_cell(CELL, RunOptions(report_dir=tmp_path / "report"), _rooted(empty))
    assert (r.status, r.culprit) == ("ERROR", "tool")
    assert r.reason == ("cannot fetch the bookworm-6.1-x86_64 kernel: no 6.1 kernel of "
                        f"debian:bookworm with headers is installed: {INSTALL_HINT}")
    assert {s.status for s in r.suites.values()} == {"ERROR"}


@pytest.mark.skipif(not vng_path().exists(), reason="needs virtme-ng (make vm-deps)")
def test_a_vm_that_never_reaches_the_script_is_a_tool_error(tmp_path: Path) -> None:
    root = _fake_root(tmp_path / "root", {"6.1.0-99-amd64": True})
    cell = dataclasses.replace(CELL, suites=("uu",))
    r = run_cell(cell, RunOptions(report_dir=tmp_path / "report"), _rooted(root))
    assert (r.status, r.culprit) == ("ERROR", "tool"), r.reason
    assert "6.1.0-99-amd64 VM never reached the script" in r.reason
    assert (tmp_path / "report" / r.logs["console"]).is_file()


def test_shell_argv_is_vng_without_exec(tmp_path: Path) -> None:
    p = QemuProvisioner(CELL, tmp_path)
    p.prepare()
    argv = p.shell_argv()
    assert argv[0] == "env" and argv[1].startswith(f"PATH={vng_path().parent}:")
    assert Path(argv[2]).name == "vng" and "--exec" not in argv
    assert argv[argv.index("--run") + 1] == str(p.kernel.vmlinuz)
    assert p.kernel.release.startswith("6.1.")


# --- one real boot, shared by the tests below ------------------------------------------
def _boot_cell() -> dict[str, Any]:
    # one directory per test run, the same in every xdist worker of the run;
    # earlier runs' of this checkout go (kept until then for a look at their
    # logs); in the checkout's build/, so other checkouts' runs on this
    # machine are left alone
    report = BUILD_ROOT / "qemu-cell-report" / runonce.run_id()
    for old in report.parent.glob("*"):
        if old != report:
            shutil.rmtree(old, ignore_errors=True)
    cell = dataclasses.replace(CELL, suites=("uu", "kk", "uk", "ku", "kv"))
    r = run_cell(cell, RunOptions(report_dir=report, token="qemu-test"))
    return {"report": str(report), "result": r.to_json()}


@pytest.fixture(scope="module")
def booted() -> tuple[Path, CellResult]:
    shared = runonce.once("qemu-cell-6.1", _boot_cell)
    return Path(shared["report"]), CellResult.from_json(shared["result"])


@pytest.mark.vm
@pytest.mark.xdist_group("qemu-cell-6.1")
def test_qemu_cell_suites(booted: tuple[Path, CellResult]) -> None:
    report, r = booted
    detail = {n: (s.status, s.error) for n, s in r.suites.items()}
    assert {n: s.status for n, s in r.suites.items()} == \
        {"uu": "PASS", "kk": "PASS", "uk": "PASS", "ku": "PASS", "kv": "PASS"}, (r.reason, detail)
    assert r.status == "PASS" and r.culprit is None
    for name in ("uu", "kk", "uk", "ku"):
        tests = {t.name: t.status for t in r.suites[name].tests}
        assert tests.get("echo") == "PASS", (name, tests)
    # kernel servers cannot die: those scenarios are SKIP in kk, as in test_kernel.py;
    # user servers can, and the kernel client of ku sees it
    assert {t.name: t.status for t in r.suites["kk"].tests}["server_death"] == "SKIP"
    assert {t.name: t.status for t in r.suites["ku"].tests}["server_death"] == "PASS"
    assert r.info["kernel_release"].startswith("6.1.") and r.info["accel"] in ("kvm", "tcg")
    # the kvstore in all four directions, their transcripts the same
    kv = {t.name: t.status for t in r.suites["kv"].tests}
    assert all(kv.get(f"{d}/mixed_8x1000") == "PASS" for d in ("uu", "uk", "kk", "ku")), kv
    assert kv["transcripts_identical"] == "PASS" and kv["ku/server_exit"] == "PASS"


@pytest.mark.vm
@pytest.mark.xdist_group("qemu-cell-6.1")
def test_qemu_cell_logs(booted: tuple[Path, CellResult]) -> None:
    report, r = booted
    assert set(r.logs) >= {"script", "output", "build", "console", "dmesg"}
    d = cell_dir(report, CELL.id)
    console = (d / "console.log").read_text()
    assert "Linux version 6.1." in console and "CSE-CELL-DONE" in console
    assert "KTAP version 1" in (d / "dmesg.txt").read_text()
    assert "/kernel/linux KVER=6.1." in (d / "build.log").read_text()  # the modules' make
    assert "--- kernel log ---" in (d / "kk.log").read_text()
    # each suite's kernel log is its own, not the boot's
    assert "Linux version" not in (d / "uu.log").read_text()
