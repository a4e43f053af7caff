"""testbed.cellscript, testbed.kernel_suites and testbed.verdict: the cell
script's builders, run for real with /bin/sh, and how their output is judged."""

from __future__ import annotations

import shlex
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from testbed import cellscript, kernel_suites
from testbed.cellscript import CELL_DONE, CELL_START, cell_script, read_section, suite_section
from testbed.matrix import Cell
from testbed.verdict import Verdict, add_failure, judge_cell, judge_suite, not_run

KTAP_OK = "KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP no peer\n"
KTAP_FAIL = "KTAP version 1\n1..2\nok 1 a\n# check failed: x == y\nnot ok 2 b\n"
CELL = Cell("local-x", "local", "i386", "glibc", "linux", ("uu",))


def _sh(script: str, tmp_path: Path, timeout_s: float = 60) -> str:
    path = tmp_path / "s.sh"
    path.write_text(script)
    # stdout and stderr interleaved, as every provisioner returns them
    return subprocess.run(["/bin/sh", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout_s,
                          cwd=tmp_path).stdout


def _printer(tmp_path: Path, text: str, *, rc: int = 0, then: str = "") -> str:
    """A program printing @text, then running @then, exiting @rc."""
    (tmp_path / "out.txt").write_text(text)
    prog = tmp_path / "prog"
    prog.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\n{then}\nexit {rc}\n")
    prog.chmod(0o755)
    return str(prog)


def test_suite_section_runs_and_reads_back(tmp_path: Path) -> None:
    out = _sh(cell_script([suite_section("uu", _printer(tmp_path, KTAP_OK), 30)]), tmp_path)
    assert out.startswith(CELL_START + "\n") and out.endswith(CELL_DONE + "\n")
    sec = read_section(out, "uu")
    assert sec.begun and sec.ended and sec.returncode == 0 and sec.elapsed_s is not None
    assert sec.text.strip() == KTAP_OK.strip()
    v = judge_suite(sec, sec.text, timeout_s=30)
    assert v.result.status == "PASS" and v.culprit is None
    assert [(t.name, t.status, t.reason) for t in v.result.tests] == [
        ("a", "PASS", ""), ("b", "SKIP", "no peer")]


def test_failing_case_is_fail_code(tmp_path: Path) -> None:
    out = _sh(cell_script([suite_section("uu", _printer(tmp_path, KTAP_FAIL, rc=1), 30)]),
              tmp_path)
    sec = read_section(out, "uu")
    assert sec.returncode == 1
    v = judge_suite(sec, sec.text, timeout_s=30)
    assert (v.result.status, v.culprit, v.result.error) == ("FAIL", "code", "not ok: b")
    assert v.result.tests[1].diagnostics == "check failed: x == y"


def test_suite_killed_at_its_timeout_is_hung(tmp_path: Path) -> None:
    # Killed mid-line: the end marker must still be on a line of its own.
    prog = _printer(tmp_path, "KTAP version 1\n1..2\nok 1 a\nok 2", then="sleep 30")
    out = _sh(cell_script([suite_section("uu", prog, 1)]), tmp_path)
    sec = read_section(out, "uu")
    assert sec.ended and sec.returncode == 124 and sec.elapsed_s >= 1
    v = judge_suite(sec, sec.text, timeout_s=1)
    assert (v.result.status, v.culprit) == ("FAIL", "code")
    assert v.result.error == "hung: killed after 1 s"
    assert [t.name for t in v.result.tests] == ["a"]


def test_crash_and_bad_exit(tmp_path: Path) -> None:
    crash = _printer(tmp_path, "KTAP version 1\n1..3\nok 1 a\n", then="kill -SEGV $$")
    out = _sh(cell_script([suite_section("uu", crash, 30)]), tmp_path)
    v = judge_suite(read_section(out, "uu"), read_section(out, "uu").text, timeout_s=30)
    assert v.result.status == "FAIL" and v.culprit == "code"
    assert v.result.error.startswith("crashed: KTAP incomplete (1 of 3, exit 139)")

    leaky = _printer(tmp_path, KTAP_OK, rc=3)
    out = _sh(cell_script([suite_section("uu", leaky, 30)]), tmp_path)
    v = judge_suite(read_section(out, "uu"), read_section(out, "uu").text, timeout_s=30)
    assert v.result.error == "exit status 3 after a complete KTAP run"


def test_missing_command_is_harness_error(tmp_path: Path) -> None:
    out = _sh(cell_script([suite_section("uu", str(tmp_path / "nope"), 30)]), tmp_path)
    sec = read_section(out, "uu")
    assert sec.returncode == 127
    v = judge_suite(sec, sec.text, timeout_s=30)
    assert (v.result.status, v.culprit) == ("ERROR", "harness")


def test_sections_not_reached_or_cut_short() -> None:
    out = f"{CELL_START}\nCSE-BEGIN-uu\nKTAP version 1\n1..2\nok 1 a\n"
    sec = read_section(out, "uu")
    assert sec.begun and not sec.ended and sec.returncode is None
    assert sec.text.endswith("ok 1 a\n")
    assert cellscript.last_begun(out) == "uu"
    hung = judge_suite(sec, sec.text, timeout_s=30, stopped="killed after 99 s",
                       cell_timed_out=True)
    assert hung.result.status == "FAIL" and hung.result.error.startswith("hung:")
    died = judge_suite(sec, sec.text, timeout_s=30, stopped="VM died")
    assert died.result.error.startswith("crashed: KTAP incomplete")
    never = judge_suite(read_section(out, "uk"), "", timeout_s=30, stopped="VM died")
    assert (never.result.status, never.culprit, never.result.error) == \
        ("ERROR", "harness", "not run: VM died")


def test_builder_errors() -> None:
    with pytest.raises(ValueError, match="section name"):
        suite_section("u u", "true", 5)
    with pytest.raises(ValueError, match="positive"):
        suite_section("uu", "true", 0)


def test_uu_command_and_meson_options() -> None:
    assert cellscript.uu_command(Path("/b")) == "/b/tests/cse-conformance"
    assert cellscript.uu_command(Path("/b d"), {"ASAN_OPTIONS": "a=1:b=2"}) == \
        "env ASAN_OPTIONS=a=1:b=2 '/b d/tests/cse-conformance'"
    assert cellscript.meson_options(CELL) == ["-Dplatform=linux", "-Dbench=false",
                                              "-Dc_args=-m32", "-Dc_link_args=-m32"]
    emulated = Cell("x", "docker", "x86_64", "glibc", "emulated", ("uu",), "debian:trixie")
    assert cellscript.meson_options(emulated) == ["-Dplatform=emulated", "-Dbench=false"]


def _tar(tmp_path: Path, files: dict[str, str]) -> PurePosixPath:
    work = tmp_path / "work"
    work.mkdir(parents=True)
    src = tmp_path / "tree"
    with tarfile.open(work / "src.tar", "w") as tar:
        for name, text in files.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
            tar.add(src / name, arcname=name)
    return PurePosixPath(work)


def test_build_section_builds_and_stops_on_failure(tmp_path: Path) -> None:
    """A staged build, for real: a tiny meson project builds; a broken one stops
    the script before its suites, after the done marker."""
    cell = Cell("x", "docker", "x86_64", "glibc", "linux", ("uu",), "debian:bookworm")
    project = {"meson.build": "project('t', 'c')\nexecutable('hello', 'hello.c')\n",
               "meson_options.txt": "option('platform', type: 'string')\n"
                                    "option('bench', type: 'boolean')\n"}
    good = _tar(tmp_path / "g", project | {"hello.c": "int main(void) { return 0; }\n"})
    script = cell_script([suite_section("uu", "echo suite-ran", 30)],
                         cellscript.build_section(cell, good, 120))
    out = _sh(script, tmp_path, 300)
    sec = read_section(out, "build")
    assert sec.returncode == 0, out
    assert (Path(good) / "build/hello").is_file() and "suite-ran" in out

    bad = _tar(tmp_path / "b", project | {"hello.c": "int main(void) { return broken; }\n"})
    out = _sh(cell_script([suite_section("uu", "echo suite-ran", 30)],
                          cellscript.build_section(cell, bad, 120)), tmp_path, 300)
    sec = read_section(out, "build")
    assert sec.ended and sec.returncode not in (0, None) and "broken" in sec.text
    assert "suite-ran" not in out and out.endswith(CELL_DONE + "\n")


def test_guest_script_shape() -> None:
    script = kernel_suites.guest_script(Path("/m"), kk=True, uk_runs={"uk": "/b/c --servers"},
                                        timeout_s=42)
    lines = script.splitlines()
    order = [i for i, line in enumerate(lines) if line.startswith(("insmod", "rmmod"))]
    assert [lines[i].split(" ||")[0] for i in order] == [
        "insmod /m/cse.ko", "rmmod cse_conformance",
        "insmod /m/cse_conformance.ko run_kk=0", "rmmod cse_conformance", "rmmod cse"]
    assert "timeout -k 10 42 insmod /m/cse_conformance.ko" in lines
    assert "timeout -k 10 42 /b/c --servers" in lines
    for name in ("kk", "dmesg-kk", "uk", "dmesg-uk", "dmesg"):
        assert f"echo CSE-BEGIN-{name}" in lines
    no_kk = kernel_suites.guest_script(Path("/m"), kk=False, uk_runs={}, timeout_s=5)
    assert "cse_conformance" not in no_kk and "insmod /m/cse.ko" in no_kk


def test_ku_command_starts_user_servers_and_reloads_the_module(tmp_path: Path) -> None:
    cmd = kernel_suites.ku_command(Path("/m"), Path("/b"))
    assert cmd.startswith("sh -c ")
    body = shlex.split(cmd)[2]
    assert '/b/tests/cse-conf-helper server uconf-inline & pids="$pids $!"' in body
    assert '/b/tests/cse-conf-helper server uconf-worker --worker & pids="$pids $!"' in body
    assert body.rstrip().endswith("kill $pids 2>/dev/null\nwait\nexit $rc")
    assert ("insmod /m/cse_conformance.ko run_kk=0 ku_inline=uconf-inline "
            "ku_worker=uconf-worker helper=/b/tests/cse-conf-helper") in body
    assert body.index("rmmod cse_conformance") < body.index("insmod")
    assert "ku" in kernel_suites.KTAP_IN_KERNEL_LOG
    hostile = shlex.split(kernel_suites.ku_hostile_command(Path("/m"), Path("/b")))[2]
    assert "/b/tests/unit/test-ku-hostile-server uconf-hostile 3 &" in hostile
    # The servers must really stop, or the suite hangs until its timeout: run
    # the script with dash, stand-ins for the module tools and the peers.
    peer = tmp_path / "peer"
    peer.write_text("#!/bin/sh\nexec sleep 1000\n")
    peer.chmod(0o755)
    script = body.replace("/b/tests/cse-conf-helper", str(peer))
    script = script.replace("\nrmmod ", "\ntrue ").replace("\ninsmod ", "\nfalse ")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert "hostile_server=uconf-hostile hostile_rounds=3" in hostile


def test_kernel_log_helpers() -> None:
    out = ("CSE-BEGIN-dmesg-kk\n[    1.5] KTAP version 1\n[    1.6] 1..1\n"
           "[    1.7] ok 1 echo\nCSE-END-dmesg-kk\n"
           "CSE-STEP-FAILED rmmod cse\n"
           "CSE-BEGIN-dmesg\n[    9.1] WARNING: CPU: 0 PID: 1 at x.c:1\nCSE-END-dmesg\n")
    log = kernel_suites.kernel_log(out)
    assert log.splitlines() == ["[    1.5] KTAP version 1", "[    1.6] 1..1",
                                "[    1.7] ok 1 echo", "[    9.1] WARNING: CPU: 0 PID: 1 at x.c:1"]
    assert kernel_suites.kernel_ktap(log).startswith("KTAP version 1\n1..1\nok 1 echo")
    assert kernel_suites.complaints(log) == ["WARNING: CPU: 0 PID: 1 at x.c:1"]
    assert kernel_suites.failed_steps(out) == ["CSE-STEP-FAILED rmmod cse"]
    # arm64's backtrace header differs from x86's
    assert kernel_suites.complaints("[ 2.0] Call trace:\n[ 2.1] Call Trace:\n") == \
        ["Call trace:", "Call Trace:"]


def test_cell_verdict_order_and_culprit() -> None:
    passed = judge_suite(read_section("CSE-BEGIN-uu\n" + KTAP_OK + "CSE-END-uu\nCSE-RC-uu=0 1\n",
                                      "uu"), KTAP_OK, timeout_s=9)
    err = not_run("uk", "not run: boot timeout", culprit="tool")
    skip = not_run("ku", "K-U not built yet (issue 3)", "SKIP")
    assert judge_cell({"uu": passed, "ku": skip}) == ("PASS", None, "")
    assert judge_cell({"uu": passed, "uk": err, "ku": skip}) == \
        ("ERROR", "tool", "uk: not run: boot timeout")
    failing = Verdict(passed.result, None)
    add_failure(failing, "kernel-log", "kernel complained: BUG: x")
    assert failing.result.status == "FAIL" and failing.culprit == "code"
    # a code FAIL is never hidden behind an infrastructure ERROR elsewhere
    assert judge_cell({"uk": err, "uu": failing})[:2] == ("FAIL", "code")
    assert judge_cell({"ku": skip}) == ("SKIP", None, "ku: K-U not built yet (issue 3)")
