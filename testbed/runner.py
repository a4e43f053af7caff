"""Run one cell of the matrix: provision it, build, run its suites in one cell
script, judge, and save everything under report/cells/<cell>/.

    result = run_cell(cell, RunOptions(report_dir=Path("report")))

run_cell() does not raise for anything that goes wrong in or around the cell:
that is the result (ERROR with a culprit, FAIL culprit code, SKIP with a
reason).  Only the cell's own directory is written (cleared first), so
rerunning one cell keeps every other cell's result.  Saved there: result.json,
progress.json, cell.sh (the script), cell.log (its output), build.log, one
<suite>.log per suite, and for VMs console.log and dmesg.txt.

The provisioned cell may run more scripts after the first, each an attempt
with its own files (cell.attempt-2.sh, cell.attempt-2.log, uu.attempt-2.log,
console.attempt-2.log, ...):
  - a VM whose kernel died (or stopped answering) during a suite boots again
    and runs the suites it never reached (kirk's --restore);
  - --repeat N runs every suite N times (stress), --retries N reruns what
    failed: the failed cases alone where the suite can (testbed/attempts.py).
"""

from __future__ import annotations

import platform
import re
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
from pathlib import Path, PurePosixPath

from testbed import (
    attempts,
    cellscript,
    elf,
    kbuild,
    kernel_health,
    kernel_suites,
    kvsuite,
    progress,
    suite_plan,
)
from testbed.builds import ROOT, BuildError, Flavour
from testbed.cellscript import CELL_DONE, CELL_START, read_section
from testbed.hostbuild import ToolMissing, build_flavour, build_kernel_modules, host_flavour
from testbed.matrix import Cell
from testbed.provision import Provisioner, ProvisionError, provisioner_for, registry
from testbed.provision.base import CommandResult
from testbed.results import CellResult, Culprit, Status, SuiteResult, TestResult
from testbed.safepath import check_cell_id, inside
from testbed.verdict import Verdict, add_failure, add_problem, judge_cell, judge_suite, not_run

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
    #: reruns of a failed test (or of a suite whose tests cannot run alone)
    retries: int = 0
    #: runs of every suite (stress): a test failing in any run FAILs
    repeat: int = 1

    def __post_init__(self) -> None:
        if self.cell_timeout_s <= 0 or self.suite_timeout_s <= 0:
            raise ValueError(f"timeouts must be positive (cell {self.cell_timeout_s} s, "
                             f"suite {self.suite_timeout_s} s)")
        if self.retries < 0 or self.repeat < 1:
            raise ValueError(f"retries must be 0 or more and repeat 1 or more, not "
                             f"{self.retries} and {self.repeat}")


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


#: seconds a further attempt (a resumed boot, a repeat, a retry) needs at least
MIN_ATTEMPT_S = 60


@dataclass
class _Attempt:
    """One script's run, judged: the verdicts of the suites it ran, those
    it never reached, and whether the VM died (not killed at the cell's
    timeout) so that a new boot may run the rest."""

    verdicts: dict[str, Verdict]
    unstarted: list[str]
    died: bool = False


class _BuildFailed(Exception):
    """The staged build of the first attempt failed: @result says how."""

    def __init__(self, result: CellResult) -> None:
        super().__init__(result.reason)
        self.result = result


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
        #: scripts run so far in this cell
        self.attempt = 0
        #: module names whose frames in a kernel trace are our code's
        self.modules = kernel_health.OUR_MODULES

    # --- whole-cell outcomes --------------------------------------------------------
    def whole_cell(self, status: Status, why: str, culprit: Culprit | None) -> CellResult:
        """Every suite gets @status and @why (SKIP, or an ERROR/FAIL before any ran)."""
        suites = {s: SuiteResult(s, status, error=why) for s in self.cell.suites}
        return CellResult(self.cell.id, status, culprit if status in ("FAIL", "ERROR") else None,
                          why, suites=suites)

    def _result(self, verdicts: dict[str, Verdict], reason: str = "") -> CellResult:
        """The cell's result from every suite's verdict, in the cell's order."""
        ordered = {n: verdicts[n] for n in self.cell.suites}
        status, culprit, why = judge_cell(ordered)
        return CellResult(self.cell.id, status, culprit, why or reason,
                          suites={n: v.result for n, v in ordered.items()})

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
        # its own kernel: the suites' kernel log and taint are checked
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
            finally:
                self.logs.update(p.logs)  # the teardown's too (a VM's console, destroy)
        assert result is not None  # _provisioned() returned, or its exception went on
        return result

    def _provisioned(self, p: Provisioner) -> CellResult:
        try:
            self.prog.set("preparing")
            p.prepare()
            p.start()
            self.info |= p.facts()
            self.prog.set("building")
            plan = self._plan(p)
            if plan is None:  # built, and nothing here can run it
                return self._result(self.decided, self.info.get("build_only", ""))
            first = self._attempt(p, plan, plan.all(), with_build=True)
        except _BuildFailed as e:
            return e.result
        except ProvisionError as e:
            if e.log is not None:
                self.logs["provision"] = e.log
            return self.whole_cell("ERROR", str(e), e.culprit)
        except ToolMissing as e:
            return self._not_built("ERROR", f"toolchain: {e}", "tool")
        except BuildError as e:
            return self._not_built("FAIL", f"build failed: {str(e).splitlines()[0]} "
                                   f"(see build.log)", "code")
        verdicts = self._more_attempts(p, plan, first)
        if self.attempt > 1:
            self.info["attempts"] = str(self.attempt)
        return self._result({**verdicts, **self.decided})

    def _more_attempts(self, p: Provisioner, plan: suite_plan.Plan,
                       first: _Attempt) -> dict[str, Verdict]:
        """The first run resumed where its VM died, repeated (--repeat),
        then what still failed retried (--retries)."""
        runs = [self._resume(p, plan, first)]
        for i in range(1, self.opts.repeat):
            if not self._time_for(f"run {i + 1} of {self.opts.repeat}"):
                break
            runs.append(self._resume(p, plan, self._attempt(p, plan, plan.all())))
        verdicts = attempts.merge_repeats(runs) if len(runs) > 1 else runs[0]
        for _ in range(self.opts.retries):
            todo = attempts.retry_plan(verdicts, set(plan.suites))
            if not todo or not self._time_for(f"retry of {', '.join(todo)}"):
                break
            again = self._resume(p, plan, self._attempt(p, plan, todo))
            for name, cases in todo.items():
                verdicts[name] = attempts.merge_retry(verdicts[name], again[name],
                                                      verdicts[name].result.attempts + 1, cases)
        return verdicts

    def _time_for(self, what: str) -> bool:
        """Whether the cell's timeout leaves room for @what; if not, say so."""
        if self._timeout_left() >= MIN_ATTEMPT_S:
            return True
        self.info.setdefault("not_attempted", f"no time left for the {what}")
        return False

    def _resume(self, p: Provisioner, plan: suite_plan.Plan,
                att: _Attempt) -> dict[str, Verdict]:
        """@att's verdicts, and while its VM died with suites left, a new boot
        running them (kirk's --restore): one dead suite does not cost the rest."""
        verdicts = dict(att.verdicts)
        while att.died and att.unstarted and self._time_for("resumed boot"):
            rest = {s: None for s in att.unstarted}
            resumed = ", ".join(self.info.get("resumed", "").split(", ") + [att.unstarted[0]])
            self.info["resumed"] = resumed.strip(", ")
            att = self._attempt(p, plan, rest)
            verdicts.update(att.verdicts)
        return verdicts

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
        return self._result(verdicts)

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
            self.modules = self.modules | {ko.stem for ko in moddir.glob("*.ko")}
        self._built(time.monotonic() - t0, tests)
        return builddir, moddir, flavour

    def _plan(self, p: Provisioner) -> suite_plan.Plan | None:
        """Build (on the host, or staged for the first script's build section)
        and say how the suites run; None when the cell's code was built and
        cannot run here."""
        cell = self.cell
        kernel = [s for s in cell.runs_suites if s in kernel_suites.KERNEL_SUITES]
        if kernel and not self.in_vm:
            able = " or ".join(registry.with_capability("kernel_suites"))
            for s in kernel:
                self.decided[s] = not_run(s, f"suite {s} loads kernel modules: it runs only in "
                                             f"{able} cells, not {cell.provisioner}")
        runnable = tuple(s for s in cell.runs_suites if s not in self.decided)
        plan = suite_plan.Plan(runnable, cellscript.STAGED_WORKDIR / "build",
                               self.opts.suite_timeout_s, in_vm=self.in_vm)
        # in a VM the kv suite runs in every direction: it needs the modules too
        modules = self.in_vm and (bool(kernel) or "kv" in runnable)
        if p.shares_host_fs:
            builddir, plan.moddir, flavour = self._host_build(p, modules)
            if why := p.cannot_run(flavour):
                self.info["build_only"] = why
                for s in cell.runs_suites:
                    self.decided.setdefault(s, not_run(s, why, "SKIP"))
                return None
            plan.builddir = builddir
            plan.prefix, plan.env = p.program_prefix(flavour)
        else:
            with tempfile.TemporaryDirectory(prefix="cse-stage-") as tmp:
                tarball = make_source_tarball(Path(tmp) / "src.tar")
                p.put(tarball, str(cellscript.STAGED_WORKDIR / "src.tar"))
            # a VM of its own kernel builds the modules too, against its headers
            if modules:
                plan.moddir = cellscript.STAGED_WORKDIR / "kernel"
                self.modules = self.modules | {PurePosixPath(m).stem for m in kbuild.MODULES}
            targets = cellscript.lean_targets(runnable) if p.lean_build else None
            if targets is not None:
                self.info["build_targets"] = " ".join(targets[0] + targets[1])
            plan.build = cellscript.build_section(cell, cellscript.STAGED_WORKDIR,
                                                  int(self.opts.cell_timeout_s),
                                                  modules=modules, targets=targets)
        return plan

    # --- one script ---------------------------------------------------------------------
    def _attempt(self, p: Provisioner, plan: suite_plan.Plan, selection: suite_plan.Selection,
                 with_build: bool = False) -> _Attempt:
        """Run the script of @selection and judge it.  After the first, an
        attempt the provisioner cannot run is that attempt's ERROR, not the
        cell's: what earlier attempts found stands."""
        self.attempt += 1
        k = self.attempt
        try:
            res = self._run_script(p, plan.script(selection, with_build), k)
        except ProvisionError as e:
            if k == 1:
                raise
            return _Attempt({s: not_run(s, f"not run (attempt {k}): {e}", "ERROR", e.culprit)
                             for s in selection}, [])
        if with_build:
            self._judge_build(res)
        return self._judge_attempt(res, selection, k)

    def _run_script(self, p: Provisioner, script: str, k: int) -> CommandResult:
        """Run one script; attempt @k > 1 keeps its files under
        <name>.attempt-<k>.<ext>, and the first attempt's files keep their names."""
        stem = "cell" if k == 1 else f"cell.attempt-{k}"
        (self.d / f"{stem}.sh").write_text(script)
        self.logs["script" if k == 1 else f"script-attempt-{k}"] = self.d / f"{stem}.sh"
        first = {n: path.read_bytes() for n, path in p.logs.items() if path.is_file()} \
            if k > 1 else {}
        before = ("booting VM" if self.in_vm else "starting") + \
            (f" (attempt {k})" if k > 1 else "")
        self.prog.set(before)
        tail = _Tail(self.d, self.prog, before)
        tail.start()
        try:
            res = p.run(script, timeout_s=self._timeout_left())
        finally:
            tail.stopping.set()
            tail.join()
            for name, path in p.logs.items() if k > 1 else ():
                if path.is_file() and (name not in first or path.read_bytes() != first[name]):
                    copy = path.with_name(f"{path.stem}.attempt-{k}{path.suffix}")
                    shutil.copyfile(path, copy)
                    self.logs[f"{name}-attempt-{k}"] = copy
                if name in first:
                    path.write_bytes(first[name])
        (self.d / f"{stem}.log").write_text(res.output)
        self.logs["output" if k == 1 else f"output-attempt-{k}"] = self.d / f"{stem}.log"
        return res

    # --- judging ----------------------------------------------------------------------
    def _judge_build(self, res: CommandResult) -> None:
        """A staged cell's build section: recorded, or _BuildFailed."""
        build = read_section(res.output, "build")
        if not build.begun:
            return
        (self.d / "build.log").write_text(build.text)
        self.logs["build"] = self.d / "build.log"
        if build.ended and build.returncode == 0:
            self._built(float(build.elapsed_s or 0), [TestResult("library-and-tests", "PASS")])
            return
        if build.returncode == 127:
            said = [line.partition(": ")[2] for line in build.text.splitlines()
                    if line.startswith(cellscript.TOOLCHAIN_MISSING)]
            what = said[0] if said else "a build tool is missing (exit 127)"
            raise _BuildFailed(self._not_built(
                "ERROR", f"toolchain: {what}: install it in the cell's image", "tool"))
        if not build.ended:
            why = f"build did not finish: {_stopped(res)}"
        else:
            why = f"build failed (exit {build.returncode}), see build.log"
        raise _BuildFailed(self._not_built("FAIL", why, "code"))

    def _judge_attempt(self, res: CommandResult, selection: suite_plan.Selection,
                       k: int) -> _Attempt:
        out = res.output
        finished = f"\n{CELL_DONE}\n" in f"\n{out}"
        stopped = "" if finished else _stopped(res)
        verdicts = {name: self._suite(name, res, stopped, k) for name in selection}
        unstarted = [n for n in selection if not read_section(out, n).begun]
        died = self.in_vm and not finished and not res.timed_out
        if self.in_vm:
            for name in unstarted if died else ():  # the VM's death, not the testbed's
                verdicts[name].culprit = "tool"
            self._kernel_checks(out, verdicts, finished, stopped, died, k)
        elif not finished and all(v.result.status in ("PASS", "SKIP") for v in verdicts.values()):
            add_failure(verdicts[list(selection)[-1]], "cell-script",
                        f"the cell script did not finish: {stopped}")
        return _Attempt(verdicts, unstarted, died)

    def _suite(self, name: str, res: CommandResult, stopped: str, k: int) -> Verdict:
        out = res.output
        sec = read_section(out, name)
        text = sec.text
        if name in kernel_suites.KTAP_IN_KERNEL_LOG:
            klog = read_section(out, f"dmesg-{name}")
            # the kernel log section, or (VM died first) the console's copy of it
            text = kernel_suites.kernel_ktap(klog.text if klog.ended else sec.text)
        elif name == "kv":  # its directions' transcripts, compared
            text = kvsuite.ktap_text(text, kvsuite.DIRECTIONS if self.in_vm else ("uu",))
        v = judge_suite(sec, text, timeout_s=self.opts.suite_timeout_s, stopped=stopped,
                        cell_timed_out=res.timed_out)
        if self.in_vm and sec.begun and not sec.ended and not res.timed_out:
            # the VM died or stopped answering while this suite ran: its
            # console says whose fault that was
            health = kernel_health.judge_death(sec.text, stopped, self.modules)
            v.result.status, v.result.error, v.culprit = health.status, health.why, health.culprit
            v.result.tests.append(TestResult("kernel-health", health.status, health.why,
                                             health.trace))
        if sec.begun:
            log = self.d / (f"{name}.log" if k == 1 else f"{name}.attempt-{k}.log")
            klog = read_section(out, f"dmesg-{name}")
            log.write_text(sec.text + (f"\n--- kernel log ---\n{klog.text}" if klog.text else ""))
            v.result.log = _rel(log, self.opts.report_dir)
        return v

    def _kernel_checks(self, out: str, verdicts: dict[str, Verdict], finished: bool,
                       stopped: str, died: bool, k: int) -> None:
        """The kernel's own verdict (testbed/kernel_health.py): its log and
        taint flags after each suite, failed module steps and the unload,
        blamed on the first kernel suite of the attempt."""
        dmesg = self.d / "dmesg.txt"
        with dmesg.open("w" if k == 1 else "a") as f:
            f.write(("" if k == 1 else f"\n# attempt {k}\n") + kernel_suites.kernel_log(out) + "\n")
        self.logs["dmesg"] = dmesg
        taints = _taints(out)
        for name, v in verdicts.items():
            klog = read_section(out, f"dmesg-{name}")
            if klog.ended and (h := kernel_health.judge(klog.text, *_around(taints, name),
                                                        self.modules)):
                add_problem(v, "kernel-health", h.status, h.culprit, h.why, h.trace)
        owner = next((verdicts[s] for s in ("kk", "uk") if s in verdicts), None) or \
            next(iter(verdicts.values()))
        steps = kernel_suites.failed_steps(out)
        # the kv suite's own module steps (kvstore.ko, kvstore_client.ko) are its
        if "kv" in verdicts and (kv_steps := [s for s in steps if "kvstore" in s]):
            add_failure(verdicts["kv"], "modules", "; ".join(kv_steps))
            steps = [s for s in steps if s not in kv_steps]
        if steps:
            add_failure(owner, "modules", "; ".join(steps))
        unload = read_section(out, "dmesg")
        if unload.ended and (h := kernel_health.judge(unload.text, *_around(taints, "unload"),
                                                      self.modules)):
            add_problem(owner, "kernel-health", h.status, h.culprit,
                        f"at unload: {h.why}", h.trace)
        if not finished and all(v.result.status in ("PASS", "SKIP") for v in verdicts.values()):
            if died:  # after the suites: the unload, or the guest's own end
                h = kernel_health.judge_death(out[out.rfind("CSE-END-"):], stopped, self.modules)
                add_problem(owner, "kernel-health", h.status, h.culprit,
                            f"after the suites (module unload?): {h.why}", h.trace)
            else:
                add_failure(owner, "modules", f"hung after the suites (module unload?): "
                                              f"{stopped}")


def _stopped(res: CommandResult) -> str:
    return res.error or f"the script exited with status {res.returncode} before its end"


def _taints(out: str) -> list[tuple[str, int | None]]:
    """(section, taint flags) of each taint-<name> section, in output order."""
    names = re.findall(r"^CSE-BEGIN-(taint-[\w.+-]+)$", out, re.M)
    return [(n, kernel_health.taint_value(read_section(out, n).text)) for n in names]


def _around(taints: list[tuple[str, int | None]], name: str) -> tuple[int | None, int | None]:
    """The taint flags before and after suite @name (None when not read)."""
    for i, (section_name, value) in enumerate(taints):
        if section_name == f"taint-{name}":
            return (taints[i - 1][1] if i else None), value
    return None, None
