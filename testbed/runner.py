"""Run one cell of the matrix: provision it, build, run its suites in one cell
script, judge, and save everything under report/cells/<cell>/.

    result = run_cell(cell, RunOptions(report_dir=Path("report")))

run_cell() does not raise for anything that goes wrong in or around the cell:
that is the result (ERROR with a culprit, FAIL culprit code, SKIP with a
reason).  Only the cell's own directory is written (cleared first), so
rerunning one cell keeps every other cell's result.  Saved there: result.json,
progress.json, cell.sh (the script), cell.log (its output), build.log, one
<suite>.log per suite, and for VMs console.log and dmesg.txt.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from testbed import cellscript, elf, kernel_suites, progress
from testbed.builds import ROOT, BuildError, Flavour
from testbed.cellscript import CELL_DONE, CELL_START, read_section, section, suite_section
from testbed.hostbuild import ToolMissing, build_flavour, build_kernel_modules, host_flavour
from testbed.matrix import Cell
from testbed.provision import Provisioner, ProvisionError, provisioner_for, registry
from testbed.provision.base import CommandResult
from testbed.results import CellResult, Culprit, Status, SuiteResult, TestResult
from testbed.safepath import check_cell_id, inside
from testbed.verdict import Verdict, add_failure, judge_cell, judge_suite, not_run

DEFAULT_CELL_TIMEOUT_S = 1800
DEFAULT_SUITE_TIMEOUT_S = 600
RESULT = "result.json"

ProvisionerFactory = Callable[[Cell, Path], Provisioner]


@dataclass(frozen=True)
class RunOptions:
    """How to run cells: where reports go, the timeouts, whether to keep
    failed cells up for `cse shell`, and the run's progress token."""

    report_dir: Path
    cell_timeout_s: float = DEFAULT_CELL_TIMEOUT_S
    suite_timeout_s: int = DEFAULT_SUITE_TIMEOUT_S
    keep: bool = False
    token: str = ""

    def __post_init__(self) -> None:
        if self.cell_timeout_s <= 0 or self.suite_timeout_s <= 0:
            raise ValueError(f"timeouts must be positive (cell {self.cell_timeout_s} s, "
                             f"suite {self.suite_timeout_s} s)")


def cell_dir(report_dir: Path, cell_id: str) -> Path:
    """report_dir/cells/<id>, which run_cell clears: UnsafePath unless the id
    is a usable one and the directory is under report_dir/cells."""
    return inside(report_dir / "cells", check_cell_id(cell_id))


def run_cell(cell: Cell, opts: RunOptions,
             make_provisioner: ProvisionerFactory = provisioner_for) -> CellResult:
    """Run @cell and save its result.json; see the module doc.  A cell id
    that could name a directory outside report_dir/cells is UnsafePath."""
    d = cell_dir(opts.report_dir, cell.id)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    prog = progress.Progress(d / progress.FILE, opts.token)
    prog.set("preparing")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run = _CellRun(cell, opts, d, prog)
    try:
        result = run.execute(make_provisioner)
    except Exception as e:  # a bug in the testbed: still one result, blamed on it
        (d / "harness.log").write_text(traceback.format_exc())
        run.logs["harness"] = d / "harness.log"
        result = run.whole_cell("ERROR", f"testbed error: {e!r} (see harness.log)", "harness")
    result.started = started
    result.duration_s = round(time.monotonic() - run.t0, 1)
    result.info = run.info
    result.logs = {name: _rel(path, opts.report_dir) for name, path in run.logs.items()
                   if path.exists()}
    result.save(d / RESULT)
    prog.set(result.status, done=True)
    return result


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def source_files() -> list[str]:
    """The checkout's files as git knows them: tracked ones that still exist,
    and new ones not ignored (a developer's uncommitted new file builds too)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ProvisionError(f"cannot list the source files with git ls-files: {e}",
                             culprit="tool") from e
    names = sorted({n for n in out.decode().split("\0") if n})
    return [n for n in names if (ROOT / n).is_file()]


def make_source_tarball(dest: Path) -> Path:
    with tarfile.open(dest, "w") as tar:
        for name in source_files():
            tar.add(ROOT / name, arcname=name, recursive=False)
    return dest


class _Tail(threading.Thread):
    """Follows the live log a provisioner writes (local: cell.log, qemu:
    console.log) and reports the section running, for `cse run`'s table."""

    LIVE = ("cell.log", "console.log")

    def __init__(self, d: Path, prog: progress.Progress, before: str) -> None:
        super().__init__(daemon=True)
        self.d, self.prog, self.before = d, prog, before
        self.stopping = threading.Event()

    def run(self) -> None:
        shown = ""
        while not self.stopping.wait(0.5):
            for name in self.LIVE:
                try:
                    text = (self.d / name).read_text(errors="replace")
                except OSError:
                    continue
                current = cellscript.last_begun(text)
                state = self.before if CELL_START not in text else \
                    f"running {current}" if current else "running"
                if current and current.startswith("dmesg"):
                    state = shown or "running"
                if state != shown:
                    self.prog.set(state)
                    shown = state
                break


class _CellRun:
    """The state of one cell's run, from provisioner to judged result."""

    def __init__(self, cell: Cell, opts: RunOptions, d: Path, prog: progress.Progress) -> None:
        self.cell, self.opts, self.d, self.prog = cell, opts, d, prog
        self.t0 = time.monotonic()
        self.logs: dict[str, Path] = {}
        self.info: dict[str, str] = {
            "provisioner": cell.provisioner, "image": cell.image or "", "kernel": cell.kernel,
            "arch": cell.arch, "os": cell.os, "libc": cell.libc, "compiler": cell.compiler,
            "backend": cell.backend, "suites": " ".join(cell.suites),
            "tags": " ".join(cell.tags), "host": platform.node()}
        if cell.allow_failure:
            self.info["allow_failure"] = "true"
        #: suites decided before the script runs (ku not built, misplaced suites)
        self.decided: dict[str, Verdict] = {}
        self.in_vm = False

    # --- whole-cell outcomes --------------------------------------------------------
    def whole_cell(self, status: Status, why: str, culprit: Culprit | None) -> CellResult:
        """Every suite gets @status and @why (SKIP, or an ERROR/FAIL before any ran)."""
        suites = {s: SuiteResult(s, status, error=why) for s in self.cell.suites}
        return CellResult(self.cell.id, status, culprit if status in ("FAIL", "ERROR") else None,
                          why, suites=suites)

    # --- the run ----------------------------------------------------------------------
    def execute(self, make_provisioner: ProvisionerFactory) -> CellResult:
        cell = self.cell
        if cell.skip_reason:
            return self.whole_cell("SKIP", cell.skip_reason, None)
        try:
            p = make_provisioner(cell, self.d)
        except ModuleNotFoundError as e:
            return self.whole_cell("ERROR", f"the {cell.provisioner} provisioner needs the "
                                   f"Python module {e.name}: pip install it", "tool")
        except ProvisionError as e:
            return self.whole_cell("ERROR", str(e), e.culprit)
        if (why := p.unavailable()) is not None:
            return self.whole_cell("SKIP", why, None)
        # its own kernel: the suites' kernel log and module checks apply
        self.in_vm = p.capabilities.kernel_suites
        if self.in_vm:  # a VM that went quiet this long has stopped answering
            p.max_silence_s = self.opts.suite_timeout_s + 2 * cellscript.KILL_GRACE_S + 60
        result: CellResult | None = None
        try:
            result = self._provisioned(p)
        finally:
            self.logs.update(p.logs)
            keep = self.opts.keep and result is not None and result.status in ("FAIL", "ERROR")
            try:
                p.stop(keep=keep)
            except ProvisionError as e:
                if result is not None and result.status != "FAIL":
                    result = self.whole_cell("ERROR", f"teardown failed: {e}", e.culprit)
        assert result is not None  # _provisioned() returned, or its exception went on
        return result

    def _provisioned(self, p: Provisioner) -> CellResult:
        try:
            self.prog.set("preparing")
            p.prepare()
            p.start()
            self.info |= p.facts()
            self.prog.set("building")
            script = self._script(p)
            if script is None:  # built, and nothing here can run it
                return self._judge(None)
            res = self._run_script(p, script)
        except ProvisionError as e:
            if e.log is not None:
                self.logs["provision"] = e.log
            return self.whole_cell("ERROR", str(e), e.culprit)
        except ToolMissing as e:
            return self._not_built("ERROR", f"toolchain: {e}", "tool")
        except BuildError as e:
            return self._not_built("FAIL", f"build failed: {str(e).splitlines()[0]} "
                                   f"(see build.log)", "code")
        return self._judge(res)

    def _not_built(self, status: Status, why: str, culprit: Culprit) -> CellResult:
        """The build failed (FAIL code) or could not start (ERROR tool): with
        a build suite, that suite says so and the others SKIP, not run."""
        if "build" not in self.cell.suites:
            return self.whole_cell(status, why, culprit)
        build = Verdict(SuiteResult("build", status, error=why,
                                    log=_rel(self.d / "build.log", self.opts.report_dir)),
                        culprit)
        verdicts = {s: build if s == "build" else
                    not_run(s, "not run: the build did not succeed", "SKIP")
                    for s in self.cell.suites}
        st, cul, reason = judge_cell(verdicts)
        return CellResult(self.cell.id, st, cul, reason,
                          suites={n: v.result for n, v in verdicts.items()})

    def _built(self, seconds: float, tests: list[TestResult]) -> None:
        """Record the build suite's PASS (when the cell lists it)."""
        if "build" in self.cell.suites:
            self.decided["build"] = Verdict(SuiteResult(
                "build", "PASS", duration_s=round(seconds, 1), tests=tests,
                log=_rel(self.d / "build.log", self.opts.report_dir)))

    def _timeout_left(self) -> float:
        return max(self.opts.cell_timeout_s - (time.monotonic() - self.t0), 1.0)

    def _host_build(self, p: Provisioner, kernel: bool) -> tuple[Path, Path | None, Flavour]:
        """Build the cell's flavour (and its kernel modules) on this host, as
        the build suite; return (build dir, module dir, flavour)."""
        try:
            flavour = host_flavour(self.cell)
        except ValueError as e:
            raise ProvisionError(str(e), culprit="harness") from e
        log = self.d / "build.log"
        self.logs["build"] = log
        t0 = time.monotonic()
        builddir = build_flavour(flavour, log, self._timeout_left())
        t = flavour.toolchain
        if bad := elf.problems(builddir, t.arch, t.os):
            # the compiler ran and made something else than the target's code
            raise ToolMissing(f"the {t.describe()} build is not {t.os}/{t.arch} code: "
                              + "; ".join(bad[:5]))
        tests = [TestResult("toolchain", "PASS", t.describe()),
                 TestResult("library-and-tests", "PASS", str(builddir)),
                 TestResult("target-binaries", "PASS",
                            f"{len(elf.built_files(builddir))} files, all {t.os}/{t.arch}")]
        self.info["build"] = str(builddir)
        moddir = None
        if kernel:
            moddir = build_kernel_modules(p.module_kernel(), log)
            tests.append(TestResult("kernel-modules", "PASS", str(moddir)))
        self._built(time.monotonic() - t0, tests)
        return builddir, moddir, flavour

    def _script(self, p: Provisioner) -> str | None:
        """Build (on the host, or as the script's first section) and compose;
        None when the cell's code was built and cannot run here."""
        cell, t_suite = self.cell, self.opts.suite_timeout_s
        kernel = [s for s in cell.runs_suites if s in kernel_suites.KERNEL_SUITES]
        if kernel and not self.in_vm:
            able = " or ".join(registry.with_capability("kernel_suites"))
            for s in kernel:
                self.decided[s] = not_run(s, f"suite {s} loads kernel modules: it runs only in "
                                             f"{able} cells, not {cell.provisioner}")
            kernel = []
        build, moddir, prefix = "", None, []
        if p.shares_host_fs:
            builddir, moddir, flavour = self._host_build(p, bool(kernel))
            if why := p.cannot_run(flavour):
                self.info["build_only"] = why
                for s in cell.runs_suites:
                    self.decided.setdefault(s, not_run(s, why, "SKIP"))
                return None
            prefix, env = p.program_prefix(flavour)
        else:
            with tempfile.TemporaryDirectory(prefix="cse-stage-") as tmp:
                tarball = make_source_tarball(Path(tmp) / "src.tar")
                p.put(tarball, str(cellscript.STAGED_WORKDIR / "src.tar"))
            build = cellscript.build_section(cell, cellscript.STAGED_WORKDIR,
                                             int(self.opts.cell_timeout_s))
            builddir, env = cellscript.STAGED_WORKDIR / "build", {}

        # In a VM, each suite's kernel log is its own: not the boot's.
        sections = ["dmesg -C\n"] if self.in_vm else []
        if "uu" in cell.suites:
            sections.append(suite_section(
                "uu", cellscript.uu_command(builddir, env, prefix), t_suite))
            if self.in_vm:
                sections.append(section("dmesg-uu", "dmesg -c"))
        if kernel:
            assert moddir is not None  # in_vm: qemu shares the host's files
            ku = kernel_suites.ku_command(moddir, Path(builddir)) if "ku" in kernel else None
            uk = {"uk": kernel_suites.uk_command(Path(builddir), env)} if "uk" in kernel else {}
            sections.append(kernel_suites.guest_script(moddir, kk="kk" in kernel, uk_runs=uk,
                                                       ku=ku, timeout_s=t_suite))
        return cellscript.cell_script(sections, build)

    def _run_script(self, p: Provisioner, script: str) -> CommandResult:
        (self.d / "cell.sh").write_text(script)
        self.logs["script"] = self.d / "cell.sh"
        before = "booting VM" if self.in_vm else "starting"
        self.prog.set(before)
        tail = _Tail(self.d, self.prog, before)
        tail.start()
        try:
            res = p.run(script, timeout_s=self._timeout_left())
        finally:
            tail.stopping.set()
            tail.join()
        (self.d / "cell.log").write_text(res.output)
        self.logs["output"] = self.d / "cell.log"
        return res

    # --- judging ----------------------------------------------------------------------
    def _judge(self, res: CommandResult | None) -> CellResult:
        """The cell's result from its script's run (None: no script ran)."""
        cell = self.cell
        if res is None:
            verdicts = {n: self.decided[n] for n in cell.suites}
            status, culprit, reason = judge_cell(verdicts)
            return CellResult(cell.id, status, culprit, reason or self.info.get("build_only", ""),
                              suites={n: v.result for n, v in verdicts.items()})
        out = res.output
        finished = f"\n{CELL_DONE}\n" in f"\n{out}"
        stopped = "" if finished else (res.error or f"the script exited with status "
                                       f"{res.returncode} before its end")
        build = read_section(out, "build")
        if build.begun:
            (self.d / "build.log").write_text(build.text)
            self.logs["build"] = self.d / "build.log"
            if not (build.ended and build.returncode == 0):
                return self._build_failed(build, stopped)
            self._built(float(build.elapsed_s or 0), [TestResult("library-and-tests", "PASS")])

        verdicts: dict[str, Verdict] = {}
        for name in cell.suites:
            verdicts[name] = self.decided.get(name) or self._suite(name, res, stopped)
        if self.in_vm:
            self._kernel_checks(out, verdicts, finished, stopped, res.timed_out)
        elif not finished and all(v.result.status in ("PASS", "SKIP") for v in verdicts.values()):
            add_failure(verdicts[cell.suites[-1]], "cell-script",
                        f"the cell script did not finish: {stopped}")
        status, culprit, reason = judge_cell(verdicts)
        return CellResult(cell.id, status, culprit, reason,
                          suites={n: v.result for n, v in verdicts.items()})

    def _build_failed(self, build: cellscript.SectionRun, stopped: str) -> CellResult:
        if build.returncode == 127:
            said = [line.partition(": ")[2] for line in build.text.splitlines()
                    if line.startswith(cellscript.TOOLCHAIN_MISSING)]
            what = said[0] if said else "a build tool is missing (exit 127)"
            return self._not_built("ERROR", f"toolchain: {what}: install it in the cell's "
                                   "image", "tool")
        if not build.ended:
            why = f"build did not finish: {stopped}"
        else:
            why = f"build failed (exit {build.returncode}), see build.log"
        return self._not_built("FAIL", why, "code")

    def _suite(self, name: str, res: CommandResult, stopped: str) -> Verdict:
        out = res.output
        sec = read_section(out, name)
        text = sec.text
        if name in kernel_suites.KTAP_IN_KERNEL_LOG:
            klog = read_section(out, f"dmesg-{name}")
            # the kernel log section, or (VM died first) the console's copy of it
            text = kernel_suites.kernel_ktap(klog.text if klog.ended else sec.text)
        v = judge_suite(sec, text, timeout_s=self.opts.suite_timeout_s, stopped=stopped,
                        cell_timed_out=res.timed_out)
        if sec.begun:
            log = self.d / f"{name}.log"
            klog = read_section(out, f"dmesg-{name}")
            log.write_text(sec.text + (f"\n--- kernel log ---\n{klog.text}" if klog.text else ""))
            v.result.log = _rel(log, self.opts.report_dir)
        return v

    def _kernel_checks(self, out: str, verdicts: dict[str, Verdict], finished: bool,
                       stopped: str, timed_out: bool) -> None:
        """The kernel's own verdict: WARNING/BUG/Oops per suite, failed module
        steps and the unload, blamed on the first kernel suite of the cell."""
        dmesg = self.d / "dmesg.txt"
        dmesg.write_text(kernel_suites.kernel_log(out) + "\n")
        self.logs["dmesg"] = dmesg
        for name, v in verdicts.items():
            klog = read_section(out, f"dmesg-{name}")
            if bad := kernel_suites.complaints(klog.text):
                add_failure(v, "kernel-log", f"kernel complained: {bad[0]}", "\n".join(bad[:40]))
        owner = next((verdicts[s] for s in self.cell.suites
                      if s in ("kk", "uk") and s not in self.decided), None) or \
            next(iter(verdicts.values()))
        if steps := kernel_suites.failed_steps(out):
            add_failure(owner, "modules", "; ".join(steps))
        if bad := kernel_suites.complaints(read_section(out, "dmesg").text):
            add_failure(owner, "kernel-log", f"kernel complained at unload: {bad[0]}",
                        "\n".join(bad[:40]))
        if not finished and all(v.result.status in ("PASS", "SKIP") for v in verdicts.values()):
            what = "hung" if timed_out else "crashed"
            add_failure(owner, "modules", f"{what} after the suites (module unload?): {stopped}")
