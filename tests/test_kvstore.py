"""The kvstore example (examples/kvstore): a module written once against cse.h
and env.h, built as programs here and as kvstore.ko and kvstore_client.ko
(tests/test_kernel.py runs those in VMs, U-K, K-K and K-U).

Here: U-U on this host in every build flavour `make test` runs (64- and
32-bit, ASan/UBSan, TSan, clang, musl, and other architectures under
qemu-user), through the kv suite's own script (testbed/kvsuite.py): the
test script, hostile input and 8 clients x 1,000 mixed commands, whose
transcript must be the golden one, and a server that exits cleanly.  Then
what "written once" means, checked on the files; and the kv suite's
verdict on runs that go wrong (a different line, a direction cut short, a
kernel complaint, a server that crashed), on real transcripts edited.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from testbed import ktap, kvsuite
from testbed.builds import FLAVOURS, ROOT, TESTED

KVSTORE = ROOT / "examples/kvstore"


def _uu(fl: str) -> str:
    """Run the kv suite's U-U part with flavour @fl's programs; its output."""
    flavour = FLAVOURS[fl]
    for prog in (kvsuite.SERVER, kvsuite.CLIENT):
        if not (flavour.builddir / prog).is_file():
            pytest.fail(f"{flavour.builddir / prog} is missing: run `make test` "
                        f"(or `python -m testbed build {fl}`)")
    run = flavour.runner()
    if run.cannot:
        pytest.fail(run.cannot)
    script = kvsuite.script(flavour.builddir, None, list(run.argv),
                            dict(flavour.env) | dict(run.env))
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=900,
                          env=os.environ | {"CSE_DEBUG": ""})
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("fl", TESTED)
def test_kvstore_uu_prints_the_golden_transcript(fl: str) -> None:
    out = _uu(fl)
    run = ktap.parse(kvsuite.ktap_text(out, ("uu",)))
    bad = [f"{c.name}: " + "; ".join(c.diagnostics) for c in run.cases if c.status != "pass"]
    assert run.complete and not bad, "\n".join(bad) + "\n" + out[-3000:]
    names = {c.name for c in run.cases}
    assert {"uu/mixed_8x1000", "uu/hostile_input", "uu/server_exit",
            "transcripts_identical"} <= names


def _sources() -> list[Path]:
    return sorted(p for p in KVSTORE.iterdir() if p.suffix in (".c", ".h"))


def test_kvstore_is_written_once() -> None:
    """No conditional compilation and no OS header: only the CSE headers
    (cse.h, env.h, module.h) and its own."""
    assert len(_sources()) >= 8
    grep = subprocess.run(["grep", "-rn", r"ifdef\|#if ", str(KVSTORE)], capture_output=True,
                          text=True)
    assert grep.returncode == 1 and not grep.stdout, grep.stdout
    for path in _sources():
        for inc in re.findall(r"^\s*#\s*include\s*(\S+)", path.read_text(), re.M):
            assert inc in ("<cse/cse.h>", "<cse/env.h>", "<cse/module.h>") or \
                inc.startswith('"'), f"{path.name} includes {inc}"
    # Both builds name the same files.
    kbuild = (KVSTORE / "Kbuild").read_text()
    meson = (KVSTORE / "meson.build").read_text()
    for path in _sources():
        if path.suffix == ".c":
            assert path.stem + ".o" in kbuild and f"'{path.name}'" in meson, path.name


def _golden_run(direction: str, in_kernel: bool) -> str:
    """A direction's sections as a VM prints them, made from the golden lines."""
    lines = kvsuite.golden()
    user = "" if in_kernel else "kvstore: serving kv-kernel\n" + "\n".join(lines) + "\n"
    if direction in kvsuite.USER_SERVER:
        user += f"kvstore: stopped\n{kvsuite.SERVER_EXIT} 0\n"
    out = f"CSE-BEGIN-kv-{direction}\n{user}CSE-END-kv-{direction}\n"
    if in_kernel:  # a kernel log: timestamps, and other modules' lines between
        log = "\n".join(f"[  {i + 10}.000001] {line}" for i, line in enumerate(lines))
        log = f"[   9.5] kvstore: serving kv-kernel\n{log}\n[  99.1] cse: unloaded"
        out += f"CSE-BEGIN-dmesg-kv-{direction}\n{log}\nCSE-END-dmesg-kv-{direction}\n"
    return out


def _section(edit: dict[str, str] | None = None) -> str:
    runs = {d: _golden_run(d, d in kvsuite.IN_KERNEL_LOG) for d in kvsuite.DIRECTIONS}
    runs |= edit or {}
    return "".join(runs[d] for d in kvsuite.DIRECTIONS)


def _results(section: str) -> dict[str, str]:
    return {c.name: c.status for c in ktap.parse(kvsuite.ktap_text(section)).cases}


def test_kv_verdict_four_identical_transcripts_pass() -> None:
    results = _results(_section())
    assert set(results) == set(kvsuite.items())
    assert set(results.values()) == {"pass"}
    for item in kvsuite.items():
        ok, why = kvsuite.item_result(_section(), item)
        assert ok, f"{item}: {why}"


def test_kv_verdict_one_line_differs() -> None:
    edited = _golden_run("kk", True).replace("10000 OK, 0 values differ",
                                               "10000 OK, 1 values differ")
    section = _section({"kk": edited})
    results = _results(section)
    assert results["transcripts_identical"] == "fail"
    ok, why = kvsuite.item_result(section, "transcripts_identical")
    assert not ok and why.startswith("kk: line ") and "1 values differ" in why


def test_kv_verdict_a_direction_cut_short_or_complaining() -> None:
    cut = _golden_run("uk", False)
    cut = cut[:cut.index("ok 8 ")] + "CSE-END-kv-uk\n"
    complained = _golden_run("ku", True).replace(
        "cse: unloaded", "WARNING: CPU: 1 PID: 7 at kvstore/store.c:99")
    section = _section({"uk": cut, "ku": complained})
    results = _results(section)
    assert results["uk/transcript"] == "fail" and "uk/delete_all" not in results
    ok, why = kvsuite.item_result(section, "uk/delete_all")
    assert not ok and "7 of 15 cases reported" in why
    assert results["ku/transcript"] == "fail"
    assert "WARNING: CPU: 1" in kvsuite.item_result(section, "ku/transcript")[1]
    assert results["transcripts_identical"] == "fail"


def test_kv_verdict_a_server_that_did_not_exit_cleanly() -> None:
    crashed = _golden_run("uu", False).replace(f"{kvsuite.SERVER_EXIT} 0",
                                               f"{kvsuite.SERVER_EXIT} 66")
    results = _results(_section({"uu": crashed}))
    assert results["uu/server_exit"] == "fail"
    assert results["transcripts_identical"] == "pass"  # the client saw nothing wrong


def test_kv_script_runs_each_direction_with_its_modules() -> None:
    body = kvsuite.script(Path("/b"), Path("/m"))
    lines = body.splitlines()
    assert [line.split(" ||")[0] for line in lines if line.startswith(("insmod", "rmmod"))] == [
        "insmod /m/kvstore/kvstore.ko server_id=kv-kernel",
        "insmod /m/kvstore/kvstore_client.ko server_id=kv-kernel", "rmmod kvstore_client",
        "insmod /m/kvstore/kvstore_client.ko server_id=kv-user-$$", "rmmod kvstore_client",
        "rmmod kvstore"]
    # the same client binary, unchanged, in U-U and U-K
    assert lines.count("/b/examples/kvstore/kvstore-client kv-user-$$ 2>&1") == 1
    assert lines.count("/b/examples/kvstore/kvstore-client kv-kernel 2>&1") == 1
    for name in ("kv-uu", "kv-uk", "dmesg-kv-uk", "kv-kk", "dmesg-kv-kk", "kv-ku", "dmesg-kv-ku"):
        assert f"echo CSE-BEGIN-{name}" in lines
    assert "insmod" not in kvsuite.script(Path("/b"))
    # valid sh, step failures quoted
    assert subprocess.run(["sh", "-n", "-c", body]).returncode == 0


def test_readme_shows_the_build_files_as_they_are() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Porting a module to CSE" in readme
    for name in ("Kbuild", "meson.build"):
        body = "\n".join(line for line in (KVSTORE / name).read_text().splitlines()
                         if not line.startswith("#")).strip()
        assert body in readme, f"README's copy of examples/kvstore/{name} is out of date"
    tail = "\n".join(kvsuite.golden()[-6:])
    assert tail in readme, "README's end of the transcript is out of date"


def test_the_module_starter_in_user_space() -> None:
    """CSE_MODULE's main(): --help, too many arguments, a start that fails
    (exit 1 with the error), a start that is done (exit 0 at once), and a
    server stopped by SIGTERM or SIGINT (stop runs, exit 0)."""
    build = FLAVOURS["linux"].builddir
    server, client = build / kvsuite.SERVER, build / kvsuite.CLIENT
    helped = subprocess.run([str(server), "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: ")
    assert "an in-memory key-value store" in helped.stdout
    extra = subprocess.run([str(server), "a", "b", "c"], capture_output=True, text=True,
                           timeout=30)
    assert extra.returncode == 2 and extra.stderr.startswith("usage: ")
    bad = subprocess.run([str(client), "nobody", "sideways"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 1 and "kvstore-client: invalid argument" in bad.stderr
    assert "options are all, script, mixed or bench=N" in bad.stderr
    refused = subprocess.run([str(server), "not a valid id!"], capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 1 and "kvstore: cannot serve" in refused.stderr
    for sig in (signal.SIGTERM, signal.SIGINT):
        sid = f"kv-starter-{os.getpid()}-{sig}"
        srv = subprocess.Popen([str(server), sid], stderr=subprocess.PIPE, text=True)
        try:
            assert srv.stderr is not None
            assert srv.stderr.readline().startswith(f"kvstore: serving {sid}")
            done = subprocess.run([str(client), sid, "bench=100"], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0 and done.stderr.startswith("kvstore_bench: {")
        finally:
            srv.send_signal(sig)
            assert srv.wait(timeout=30) == 0
        assert srv.stderr.read().strip() == "kvstore: stopped"
