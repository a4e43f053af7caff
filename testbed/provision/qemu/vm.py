"""Boot a Debian kernel in QEMU with virtme-ng (`vng`) and run a script in it.

The guest shares the host's filesystem (read-only, with throw-away overlays on
/etc, /tmp, /var, ...), runs as root, and loads modules with the host's kmod,
so a module built on the host is `insmod`-ed by its host path.  Under TCG a
boot takes about 20 s; see scripts/install-vm-deps.sh for what it needs.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from testbed.kmake import Kernel
from testbed.provision.base import ProvisionError, run_streamed

INSTALL_HINT = "run scripts/install-vm-deps.sh"
KVM = "/dev/kvm"
#: The guest prints this after the script; its absence means the script never finished.
EXIT_MARKER = "CSE-VM-EXIT="
_EXIT_RE = re.compile(re.escape(EXIT_MARKER) + r"(\d+)")


class VmError(RuntimeError):
    """The VM tooling is missing (no kernel, no vng): a harness error."""


@dataclass
class VmResult:
    """One VM run.  returncode is the guest script's exit status, or None when
    the script never finished (boot failure, panic, timeout): see error.
    timed_out means the VM was killed, even if the script had finished."""

    returncode: int | None
    output: str
    console_log: Path
    duration_s: float
    timed_out: bool
    error: str = ""
    #: its console went quiet for longer than allowed: killed, stopped answering
    stalled: bool = False


def _version_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release))


def debian_kernels(root: Path = Path("/")) -> list[Kernel]:
    """Installed /boot/vmlinuz-* that have headers, oldest first."""
    kernels = []
    for vmlinuz in (root / "boot").glob("vmlinuz-*"):
        release = vmlinuz.name.removeprefix("vmlinuz-")
        for headers in (root / "usr/src" / f"linux-headers-{release}",
                        root / "lib/modules" / release / "build"):
            if headers.is_dir():
                kernels.append(Kernel(release, vmlinuz, headers,
                                      modules=root / "lib/modules" / release))
                break
    return sorted(kernels, key=lambda k: _version_key(k.release))


def default_kernel(root: Path = Path("/")) -> Kernel:
    """The newest installed Debian 6.1 kernel with headers."""
    kernels = [k for k in debian_kernels(root) if k.release.startswith("6.1.")]
    if not kernels:
        raise VmError(f"no 6.1 kernel with headers in {root / 'boot'}: {INSTALL_HINT}")
    return kernels[-1]


@functools.cache
def kvm_usable() -> bool:
    """/dev/kvm opens read-write and QEMU can really use it.

    Opening is not enough: nested or sandboxed hosts hand out a /dev/kvm on
    which QEMU aborts while setting up the vCPU ("failed to set MSR"), so ask
    QEMU itself, with a paused machine that quits at once (~50 ms).
    """
    if not os.access(KVM, os.R_OK | os.W_OK):
        return False
    try:
        os.close(os.open(KVM, os.O_RDWR))
    except OSError:
        return False
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        return False
    probe = [qemu, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults",
             "-no-user-config", "-display", "none", "-S", "-monitor", "stdio"]
    try:
        proc = subprocess.run(probe, input="quit\n", capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def vng_path() -> Path:
    """vng from this Python's environment (.venv/bin), else from PATH."""
    local = Path(sys.executable).parent / "vng"
    if local.exists():
        return local
    found = shutil.which("vng")
    return Path(found) if found else local


def vng_modules_dir(kernel: Kernel) -> Path:
    """Where virtme-ng takes @kernel's modules from: lib/modules/<release> of
    the nearest folder above the image that has a lib/modules (a chroot's
    root, or /)."""
    root = next((d for d in kernel.vmlinuz.parents if (d / "lib/modules").is_dir()), Path("/"))
    return root / "lib/modules" / kernel.release


def vng_command(kernel: Kernel, script: str, *, memory: str = "1G", cpus: int = 2,
                rw: bool = False, rwdirs: tuple[Path, ...] = (),
                kvm: bool | None = None) -> list[str]:
    """The vng argv that boots @kernel and runs the shell command @script as root.

    --verbose puts the kernel console on stderr; --force-9p skips vng's attempt
    at virtiofsd, which with Debian 12's QEMU costs 3 s and then falls back to
    9p anyway.  @rw lets the guest write the host's root filesystem (dangerous);
    @rwdirs are host directories the guest may write.  @kvm None: probe.
    """
    if kvm is None:
        kvm = kvm_usable()
    cmd = [str(vng_path()), "--run", str(kernel.vmlinuz), "--user", "root",
           "--memory", memory, "--cpus", str(cpus), "--verbose", "--force-9p"]
    if not kvm:
        cmd.append("--disable-kvm")
    if rw:
        cmd.append("--rw")
    cmd += [f"--rwdir={d}" for d in rwdirs]
    return [*cmd, "--exec", script]


def _guest_command(script_file: Path) -> str:
    return f"/bin/sh {shlex.quote(str(script_file))}; echo {EXIT_MARKER}$?"


def run_in_vm(kernel: Kernel, script: str, *, timeout_s: int, log_dir: Path,
              memory: str = "1G", cpus: int = 2, silence_s: float | None = None) -> VmResult:
    """Boot @kernel, run @script (POSIX sh, as root) and return its exit status.

    Everything vng prints (boot console, then the script's stdout and stderr)
    goes to log_dir/console.log.  The script is written to log_dir/guest.sh, so
    it may be long; log_dir is writable from the guest (for results).  Never
    raises for a VM that does not come up: that is a result with returncode
    None and an error.  A VM that prints nothing for @silence_s has stopped
    answering: killed (stalled).
    """
    log_dir = log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    script_file = log_dir / "guest.sh"
    script_file.write_text(script + "\n")
    log = log_dir / "console.log"
    cmd = vng_command(kernel, _guest_command(script_file), memory=memory, cpus=cpus,
                      rwdirs=(log_dir,))
    log.write_text(f"$ {shlex.join(cmd)}\n")
    # vng runs its helpers (virtme-run) from PATH: put its own bin dir first.
    env = dict(os.environ, PATH=f"{vng_path().parent}{os.pathsep}{os.environ.get('PATH', '')}")
    res = run_booted(cmd, log, timeout_s=timeout_s, cwd=log_dir, env=env, silence_s=silence_s)
    if res.error and (why := boot_failure(res.output)):
        res.error = f"{res.error}; the console says: {why}"
    if res.error and not (mods := vng_modules_dir(kernel)).is_dir():
        res.error = (f"{res.error}; no modules for {kernel.release} at {mods}, where "
                     f"virtme-ng looks (beside the image), so the guest has no 9p to mount "
                     f"its root")
    if res.error:
        with log.open("a") as f:
            f.write(f"\ncse: {res.error}\n")
    return res


def run_booted(cmd: list[str], log: Path, *, timeout_s: int, cwd: Path,
               env: dict[str, str] | None = None,
               silence_s: float | None = None) -> VmResult:
    """Run the VM's @cmd (no shell), its console appended to @log as it
    comes, and read the guest's exit marker (testbed.provision.base's
    run_streamed does the running, the timeout and the silence watchdog).
    The serial console of a direct boot is a terminal: \r\n becomes \n."""
    try:
        res = run_streamed(cmd, log, timeout_s, cwd=cwd, env=env, append=True,
                           silence_s=silence_s)
    except ProvisionError as e:
        error = f"{e}: {INSTALL_HINT}"
        with log.open("a") as f:
            f.write(error + "\n")
        return VmResult(None, "", log, 0.0, False, error)
    output = res.output.replace("\r\n", "\n")
    marks = _EXIT_RE.findall(output)
    returncode = int(marks[-1]) if marks else None
    error = ""
    if res.timed_out:
        error = f"timed out after {timeout_s} s"
    elif res.stalled:
        error = f"the VM stopped answering: its console {res.error}"
    elif returncode is None:
        error = f"the guest script never finished ({Path(cmd[0]).name} exit " \
                f"{res.returncode}): see {log}"
    return VmResult(returncode, output, log, res.duration_s, res.timed_out, error,
                    stalled=res.stalled)


#: Console lines that say why a guest never ran its script, most telling
#: first: the kernel's panic, then virtme-ng's and QEMU's own complaints,
#: then the root file system or a module the guest could not get.
_BOOT_FAILURES = tuple(re.compile(p) for p in (
    r"Kernel panic - not syncing: .*",
    r"\b(?:vng|virtme-run|virtme-ng|virtme-init|virtme-ng-init|virtme): .*"
    r"(?:error|fail|cannot|can't|unable|not found|no such).*",
    r"\bqemu(?:-system-\w+)?: .*",
    r"VFS: .*(?:Unable|Cannot|cannot).*",
    r"(?:modprobe|insmod): (?:FATAL|ERROR).*|\bmount: .*(?:failed|unknown filesystem).*",
    r"(?:error|Error|ERROR): .*",
))
_CONSOLE_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def boot_failure(output: str) -> str:
    """The console line that best says why a guest never ran its script
    (a panic, virtme-ng's or QEMU's error), or "" when none does."""
    lines = [_CONSOLE_TIMESTAMP.sub("", line).strip() for line in output.splitlines()]
    for pattern in _BOOT_FAILURES:
        for line in lines:
            if m := pattern.search(line):
                return m.group(0)[:300]
    return ""
