"""testbed.runner and testbed.parallel: real local cells through the real
runner (the real build, /bin/sh, `timeout`, pytest-xdist).

Where a test needs a suite that fails or hangs, a LocalProvisioner subclass
swaps the conformance binary in the cell script for a small program that
does so; everything else (build, script, timeouts, judging, saving) is real.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import pytest

from testbed import builds, cellscript, progress
from testbed.builds import FLAVOURS, Flavour
from testbed.matrix import Cell, load_matrix
from testbed.parallel import PYTEST_LOG, collect, run_cells
from testbed.provision import ProvisionError
from testbed.provision.base import CommandResult
from testbed.provision.local.provisioner import LocalProvisioner
from testbed.results import CellResult
from testbed.runner import RESULT, RunOptions, cell_dir, run_cell
from testbed.toolchains import Toolchain

MATRIX = {c.id: c for c in load_matrix(Path(__file__).parent.parent / "ci/matrix.yaml")}
LINUX = MATRIX["local-linux-x86_64"]
CONFORMANCE = str(FLAVOURS["linux"].builddir / cellscript.CONFORMANCE)


def _opts(tmp_path: Path, **over: Any) -> RunOptions:
    return RunOptions(report_dir=tmp_path / "report", token="t-" + tmp_path.name, **over)


def _swapping(program: Path) -> type[LocalProvisioner]:
    """A local provisioner whose cell script runs @program instead of the
    conformance client (the same path for every suite)."""
    class Swapped(LocalProvisioner):
        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            assert CONFORMANCE in script
            return super().run(script.replace(CONFORMANCE, str(program)), timeout_s=timeout_s)
    return Swapped


def _program(tmp_path: Path, body: str) -> Path:
    prog = tmp_path / "suite.sh"
    prog.write_text(f"#!/bin/sh\n{body}\n")
    prog.chmod(0o755)
    return prog


def test_local_cell_passes_and_saves_everything(tmp_path: Path) -> None:
    opts = _opts(tmp_path)
    r = run_cell(LINUX, opts)
    assert (r.status, r.culprit, r.reason) == ("PASS", None, ""), r.reason
    uu = r.suites["uu"]
    names = [t.name for t in uu.tests]
    assert "echo" in names and "server_death" in names and uu.status == "PASS"
    # the kvstore example, U-U here (no kernel outside a VM)
    kv = {t.name: t.status for t in r.suites["kv"].tests}
    assert kv["uu/mixed_8x1000"] == kv["transcripts_identical"] == "PASS", kv
    assert not any(name.startswith(("uk/", "kk/", "ku/")) for name in kv)
    d = cell_dir(opts.report_dir, LINUX.id)
    assert CellResult.load(d / RESULT) == r
    assert set(r.logs) >= {"script", "output", "build"}
    for rel in [*r.logs.values(), uu.log]:
        assert not Path(rel).is_absolute() and (opts.report_dir / rel).is_file(), rel
    assert "meson compile" in (d / "build.log").read_text()
    assert (d / "cell.log").read_text().startswith(cellscript.CELL_START)
    assert r.info["provisioner"] == "local" and r.info["build"] == str(FLAVOURS["linux"].builddir)
    state = progress.read(d / progress.FILE, opts.token)
    assert state is not None and state.done and state.state == "PASS"


def test_failing_suite_is_fail_code(tmp_path: Path) -> None:
    prog = _program(tmp_path, "echo 'KTAP version 1'; echo 1..2; echo 'ok 1 echo'\n"
                              "echo '# expected 4, got 5'; echo 'not ok 2 zero_length'; exit 1")
    r = run_cell(LINUX, _opts(tmp_path), _swapping(prog))
    assert (r.status, r.culprit) == ("FAIL", "code")
    assert r.reason == "uu: not ok: zero_length"
    assert r.suites["uu"].tests[1].diagnostics == "expected 4, got 5"


def test_hung_suite_is_killed_and_reported(tmp_path: Path) -> None:
    prog = _program(tmp_path, "echo 'KTAP version 1'; echo 1..2; echo 'ok 1 echo'; sleep 120")
    # uu alone: the real kv suite could outlast 2 s on a loaded machine
    uu_only = dataclasses.replace(LINUX, suites=("build", "uu"))
    r = run_cell(uu_only, _opts(tmp_path, suite_timeout_s=2), _swapping(prog))
    assert (r.status, r.culprit) == ("FAIL", "code")
    assert r.reason == "uu: hung: killed after 2 s"
    assert r.duration_s < 60


def test_cell_timeout_blames_the_running_suite(tmp_path: Path) -> None:
    # A cell timeout shorter than the suite's: the cell's own timeout must
    # stop the cell and name the suite that was running (the build's no-op
    # `meson compile` comes out of the same 12 s budget).
    prog = _program(tmp_path, "echo 'KTAP version 1'; echo 1..1; sleep 120")
    r = run_cell(LINUX, _opts(tmp_path, cell_timeout_s=12), _swapping(prog))
    assert (r.status, r.culprit) == ("FAIL", "code")
    assert r.reason.startswith("uu: hung: the cell was killed at its timeout")


def test_provisioning_failure_is_error_not_fail(tmp_path: Path) -> None:
    class NoDaemon(LocalProvisioner):
        def prepare(self) -> None:
            raise ProvisionError("cannot reach the daemon", culprit="tool")

    r = run_cell(LINUX, _opts(tmp_path), NoDaemon)
    assert (r.status, r.culprit, r.reason) == ("ERROR", "tool", "cannot reach the daemon")
    assert r.suites["uu"].status == "ERROR"


def test_skips_say_why(tmp_path: Path) -> None:
    skipped = MATRIX["ssh-debian12-arm64"]
    r = run_cell(skipped, _opts(tmp_path))
    assert (r.status, r.reason) == ("SKIP", skipped.skip_reason)
    assert r.suites["uu"].status == "SKIP"


@pytest.mark.xdist_group("runner-arm64")
def test_another_architecture_runs_under_qemu_user(tmp_path: Path) -> None:
    """A local arm64 cell: cross-built with zig, its suites run under
    qemu-aarch64 (helpers spawned through the emulator too), for real."""
    arm = Cell("local-arm", "local", "arm64", "glibc", "linux", ("build", "uu"),
               compiler="zig")
    r = run_cell(arm, _opts(tmp_path))
    assert (r.status, r.reason) == ("PASS", ""), r.reason
    assert [t.name for t in r.suites["build"].tests] == ["toolchain", "library-and-tests",
                                                        "target-binaries"]
    assert "all linux/arm64" in r.suites["build"].tests[2].reason
    assert r.suites["build"].log == f"cells/{arm.id}/build.log"
    assert "server_death" in [t.name for t in r.suites["uu"].tests]
    script = (cell_dir(tmp_path / "report", arm.id) / "cell.sh").read_text()
    assert "qemu-aarch64" in script and "QEMU_LD_PREFIX=" in script


def test_a_cell_built_for_another_os_is_build_only(tmp_path: Path) -> None:
    """FreeBSD is built and linked here for real, checked as FreeBSD code,
    and not run: PASS marked build-only, its uu suite SKIP with the reason."""
    fbsd = MATRIX["local-freebsd-arm64"]
    r = run_cell(fbsd, _opts(tmp_path))
    assert (r.status, r.culprit) == ("PASS", None)
    assert r.suites["build"].status == "PASS"
    assert "all freebsd/arm64" in r.suites["build"].tests[-1].reason
    assert r.suites["uu"].status == "SKIP" and "not FreeBSD" in r.suites["uu"].error
    assert r.info["build_only"] == r.reason == r.suites["uu"].error
    assert not (cell_dir(tmp_path / "report", fbsd.id) / "cell.sh").exists()  # nothing ran


def _only_flavour(monkeypatch: pytest.MonkeyPatch, flavour: Flavour) -> Cell:
    """Make @flavour the one build flavour; a local cell that builds it."""
    monkeypatch.setattr(builds, "FLAVOURS", {flavour.name: flavour})
    return Cell("local-broken", "local", "x86_64", "glibc", "linux", ("build", "uu"))


def test_a_build_that_fails_is_a_code_fail(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiler runs and rejects the code: FAIL, culprit code, in the
    build suite; the suites that need the build SKIP, not run."""
    broken = Flavour("test-runner-broken", ("-Dplatform=linux", "-Dbench=false",
                                            "-Dc_args=-include /nonexistent/broken.h"))
    cell = _only_flavour(monkeypatch, broken)
    r = run_cell(cell, _opts(tmp_path))
    assert (r.status, r.culprit) == ("FAIL", "code")
    assert r.suites["build"].status == "FAIL" and "build failed" in r.suites["build"].error
    assert r.suites["uu"].status == "SKIP" and "not run" in r.suites["uu"].error
    assert "broken.h" in (cell_dir(tmp_path / "report", cell.id) / "build.log").read_text()


def test_a_missing_toolchain_is_a_tool_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler, or a compiler without the headers the runtime needs, is
    the machine's fault (ERROR, culprit tool), found before any build."""
    headless = Flavour("test-runner-headless", ("-Dplatform=linux", "-Dbench=false"),
                       toolchain=Toolchain("gcc", cflags=("-nostdinc",)))
    cell = _only_flavour(monkeypatch, headless)
    r = run_cell(cell, _opts(tmp_path))
    assert (r.status, r.culprit) == ("ERROR", "tool")
    assert "toolchain:" in r.suites["build"].error and "linux/types.h" in r.suites["build"].error
    assert not (builds.BUILD_ROOT / headless.name).exists()


def test_misconfigured_cells_are_harness_errors(tmp_path: Path) -> None:
    kernel_here = Cell("local-k", "local", "x86_64", "glibc", "linux", ("uu", "kk"))
    r = run_cell(kernel_here, _opts(tmp_path))
    assert r.suites["uu"].status == "PASS"
    assert (r.status, r.culprit) == ("ERROR", "harness")
    assert "only in qemu or vagrant cells" in r.suites["kk"].error
    no_flavour = Cell("local-e32", "local", "i386", "glibc", "emulated", ("uu",))
    r = run_cell(no_flavour, _opts(tmp_path))
    assert (r.status, r.culprit) == ("ERROR", "harness")
    assert "no build flavour for linux/i386/glibc/gcc with backend emulated" in r.reason


class _Staged(LocalProvisioner):
    """This host as a cell that does not share the checkout: the runner must
    stage the source and build it in the cell script (as for docker, ssh)."""

    shares_host_fs: ClassVar[bool] = False


@pytest.mark.xdist_group("runner-staged")
def test_staged_cell_builds_in_the_cell(tmp_path: Path) -> None:
    r = run_cell(LINUX, _opts(tmp_path), _Staged)
    assert (r.status, r.culprit) == ("PASS", None), r.reason
    d = cell_dir(tmp_path / "report", LINUX.id)
    assert "meson setup" in (d / "cell.sh").read_text()
    assert "Build targets in project" in (d / "build.log").read_text()
    built = PurePosixPath(cellscript.STAGED_WORKDIR) / "build" / cellscript.CONFORMANCE
    assert Path(built).is_file()
    assert [t.name for t in r.suites["uu"].tests][:1] == ["echo"]


@pytest.mark.xdist_group("runner-staged")
def test_staged_cell_without_kernel_headers_is_a_tool_error(tmp_path: Path) -> None:
    """A cell whose compiler cannot see the kernel's UAPI headers (as -m32
    without gcc-multilib): the build's preflight says so, ERROR culprit tool,
    and no suite runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cc = bin_dir / "cc"
    cc.write_text('#!/bin/sh\nexec gcc -nostdinc "$@"\n')
    cc.chmod(0o755)

    class Headless(_Staged):
        def run(self, script: str, *, timeout_s: float) -> CommandResult:
            return super().run(f"PATH={bin_dir}:$PATH\n{script}", timeout_s=timeout_s)

    cell = Cell("local-headless", "local", "x86_64", "glibc", "linux", ("build", "uu"))
    r = run_cell(cell, _opts(tmp_path), Headless)
    assert (r.status, r.culprit) == ("ERROR", "tool"), r.reason
    assert "toolchain: cc cannot build a program with the C library and kernel headers" in \
        r.suites["build"].error
    assert r.suites["uu"].status == "SKIP"


@pytest.mark.xdist_group("runner-parallel")
def test_parallel_run_and_rerun_of_one_cell(tmp_path: Path) -> None:
    """-j 2 through pytest-xdist gives both cells their result; rerunning one
    cell then rewrites only that cell's files."""
    cells = [LINUX, MATRIX["local-emulated-x86_64"]]
    opts = _opts(tmp_path)
    results = run_cells(cells, opts, jobs=2)
    assert [r.status for r in results.values()] == ["PASS", "PASS"], \
        (opts.report_dir / PYTEST_LOG).read_text()[-3000:]
    log = (opts.report_dir / PYTEST_LOG).read_text()
    assert "bringing up nodes" in log and "2 passed" in log  # xdist ran both items
    other = cell_dir(opts.report_dir, cells[1].id) / RESULT
    before = (other.read_bytes(), other.stat().st_mtime_ns)
    first = CellResult.load(cell_dir(opts.report_dir, LINUX.id) / RESULT)

    again = run_cells([LINUX], RunOptions(report_dir=opts.report_dir, token="rerun"), jobs=2)
    assert again[LINUX.id].status == "PASS"
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before
    assert json.loads((cell_dir(opts.report_dir, LINUX.id) / RESULT).read_text())["started"] \
        >= first.started


def test_a_cell_without_result_is_a_harness_error(tmp_path: Path) -> None:
    """What the parent records when a worker died before saving a result."""
    opts = _opts(tmp_path)
    results = collect([LINUX], opts, "pytest exit 3")
    r = results[LINUX.id]
    assert (r.status, r.culprit) == ("ERROR", "harness")
    assert "never started" in r.reason and "pytest exit 3" in r.reason
    assert CellResult.load(cell_dir(opts.report_dir, LINUX.id) / RESULT) == r


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="positive"):
        RunOptions(report_dir=Path("r"), suite_timeout_s=0)
    with pytest.raises(ValueError, match="at least 1"):
        run_cells([LINUX], RunOptions(report_dir=Path("r")), jobs=0)
