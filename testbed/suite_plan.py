"""How one cell's suites are run: where they were built, what goes in front
of a program, and the cell script for any selection of them (the first
run: all, with the staged build; a retry: the failed cases of one suite; a
resumed VM: the suites a dead kernel never reached).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from testbed import cellscript, kernel_suites, kvsuite
from testbed.cellscript import suite_section

#: suite -> the cases to run (None: all of them)
Selection = dict[str, "list[str] | None"]


def _cases(cases: list[str] | None) -> str:
    return " " + shlex.join(cases) if cases else ""


@dataclass
class Plan:
    """What the runner knows once the cell is built."""

    #: the suites that run in the script, in the cell's order
    suites: tuple[str, ...]
    builddir: Path | PurePosixPath
    timeout_s: int
    #: environment and program prefix (an emulator) of the suites' programs
    env: dict[str, str] = field(default_factory=dict)
    prefix: list[str] = field(default_factory=list)
    #: the kernel modules built for the cell's own kernel (a VM), else None
    moddir: Path | None = None
    #: a staged cell's build section ("" when the host built it)
    build: str = ""
    #: the suites run on the cell's own kernel: its log and taint are checked
    in_vm: bool = False

    def all(self) -> Selection:
        return {s: None for s in self.suites}

    def script(self, selection: Selection, with_build: bool = False) -> str:
        """The cell script running @selection (in the plan's order)."""
        t = self.timeout_s
        # In a VM, each suite's kernel log is its own: not the boot's.
        sections = ["dmesg -C\n", kernel_suites.taint("boot")] if self.in_vm else []
        if "uu" in selection:
            command = cellscript.uu_command(self.builddir, self.env, self.prefix)
            sections.append(suite_section("uu", command + _cases(selection["uu"]), t))
            if self.in_vm:
                sections.append(kernel_suites.after_suite("uu"))
        # the kv suite: U-U only outside a VM; in one, every direction, which
        # needs the modules (its transcripts are compared whole: no cases)
        kv_in_vm = "kv" in selection and self.in_vm
        if "kv" in selection and not kv_in_vm:
            sections.append(suite_section(
                "kv", kvsuite.command(self.builddir, None, self.prefix, self.env), t))
        kernel = [s for s in kernel_suites.KERNEL_SUITES if s in selection]
        if kernel or kv_in_vm:
            assert self.moddir is not None  # a VM: the host built its modules
            builddir = Path(self.builddir)
            ku = kernel_suites.ku_command(self.moddir, builddir) if "ku" in kernel else None
            uk = {"uk": kernel_suites.uk_command(builddir, self.env) + _cases(selection["uk"])} \
                if "uk" in kernel else {}
            kv = kvsuite.command(builddir, self.moddir) if kv_in_vm else None
            sections.append(kernel_suites.guest_script(self.moddir, kk="kk" in kernel,
                                                       uk_runs=uk, ku=ku, kv=kv, timeout_s=t))
        return cellscript.cell_script(sections, self.build if with_build else "")
