"""The kernel health guard's reading of kernel logs (testbed/kernel_health.py):
which report is which, whose code a trace is in, what the taint flags say.
The logs are in the kernel's own format, as x86_64 and arm64 print them; the
guard in a running VM is tested by tests/test_kernel_guard.py."""

from __future__ import annotations

import pytest

from testbed import kernel_health as kh

SOFT_LOCKUP_IDLE = """\
[   52.101] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [swapper/1:0]
[   52.102] Modules linked in: cse_conformance(OE) cse(OE) 9p netfs 9pnet_virtio
[   52.103] CPU: 1 PID: 0 Comm: swapper/1 Tainted: G           OE      6.1.0-18-amd64 #1
[   52.104] RIP: 0010:default_idle+0xb/0x10
[   52.105] Call Trace:
[   52.106]  <TASK>
[   52.107]  default_idle_call+0x2c/0xe0
[   52.108]  do_idle+0x217/0x2a0
[   52.109]  </TASK>
"""
SOFT_LOCKUP_OURS = """\
[   80.001] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [cse-conformance:311]
[   80.002] Modules linked in: cse_conformance(OE) cse(OE)
[   80.003] RIP: 0010:cse_wait_word+0x31/0x90 [cse]
[   80.004] Call Trace:
[   80.005]  cse_execute+0x1a4/0x300 [cse]
[   80.006]  cse_dev_ioctl+0x77/0x120 [cse]
"""
OOPS_OURS_ARM64 = """\
[   12.500] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
[   12.501] Internal error: Oops: 0000000096000006 [#1] PREEMPT SMP
[   12.502] Modules linked in: cse_conformance(OE) cse(OE)
[   12.503] pc : cse_fifo_pop+0x20/0x80 [cse]
[   12.504] Call trace:
[   12.505]  cse_fifo_pop+0x20/0x80 [cse]
[   12.506]  kconf_exec+0x44/0x90 [cse_conformance]
[   12.507] ---[ end trace 0000000000000000 ]---
"""
PANIC_SYSRQ = """\
[   30.1] sysrq: Trigger a crash
[   30.2] Kernel panic - not syncing: sysrq triggered crash
[   30.3] CPU: 0 PID: 240 Comm: sh Tainted: G           OE      6.1.0-18-amd64 #1
[   30.4] Call Trace:
[   30.5]  <TASK>
[   30.6]  panic+0x118/0x2f0
[   30.7]  sysrq_handle_crash+0x16/0x20
[   30.8] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---
"""
WARNING_9P = """\
[    5.0] ------------[ cut here ]------------
[    5.1] WARNING: CPU: 1 PID: 90 at fs/9p/vfs_file.c:100 v9fs_x+0x10/0x20 [9p]
[    5.2] Modules linked in: cse(OE) 9p
[    5.3] ---[ end trace 0000000000000000 ]---
"""
HUNG_TASK = """\
[  245.0] INFO: task cse-conformance:412 blocked for more than 120 seconds.
[  245.1] Call Trace:
[  245.2]  schedule+0x5e/0xd0
[  245.3]  cse_wait_reply+0x90/0x140 [cse]
"""


def test_reports_and_whose_trace() -> None:
    (r,) = kh.reports(SOFT_LOCKUP_IDLE)
    assert (r.kind, r.ours) == ("soft lockup", set())  # "Modules linked in" is no frame
    assert r.headline.startswith("watchdog: BUG: soft lockup - CPU#1 stuck for 26s!")
    (r,) = kh.reports(SOFT_LOCKUP_OURS)
    assert (r.kind, r.ours) == ("soft lockup", {"cse"})
    kinds = [(x.kind, sorted(x.ours)) for x in kh.reports(OOPS_OURS_ARM64)]
    assert kinds == [("oops", []), ("oops", ["cse", "cse_conformance"])]
    assert [x.kind for x in kh.reports(PANIC_SYSRQ + WARNING_9P + HUNG_TASK)] == \
        ["panic", "warning", "hung task"]


@pytest.mark.parametrize(("log", "status", "culprit", "why"), [
    (SOFT_LOCKUP_IDLE, "ERROR", "tool", "kernel soft lockup outside CSE's modules"),
    (SOFT_LOCKUP_OURS, "FAIL", "code", "kernel soft lockup in cse: watchdog: BUG"),
    (HUNG_TASK, "FAIL", "code", "kernel hung task in cse: INFO: task"),
    (WARNING_9P, "FAIL", "code", "kernel warning: WARNING: CPU: 1"),
    (OOPS_OURS_ARM64, "FAIL", "code", "kernel oops: Unable to handle"),
    (SOFT_LOCKUP_IDLE + WARNING_9P, "FAIL", "code", "kernel warning"),
])
def test_judge_a_suite_by_its_log(log: str, status: str, culprit: str, why: str) -> None:
    h = kh.judge(log, 0, 0)
    assert h is not None and (h.status, h.culprit) == (status, culprit)
    assert h.why.startswith(why), h.why
    assert h.why.split(": ", 1)[1] in h.trace, "the trace comes with the verdict"


def test_taint_flags() -> None:
    o_e = (1 << 12) | (1 << 13)
    assert kh.judge("", 0, o_e) is None, "loading cse.ko taints O and E by itself"
    h = kh.judge("", o_e, o_e | (1 << 9))
    assert h is not None and (h.status, h.culprit) == ("FAIL", "code")
    assert h.why == "kernel tainted W (a WARNING) during the suite"
    assert kh.judge("", 1 << 9, 1 << 9) is None, "an old flag is not this suite's"
    # a soft lockup blamed on the host: its L flag is not a second, code verdict
    h = kh.judge(SOFT_LOCKUP_IDLE, o_e, o_e | (1 << 14))
    assert h is not None and (h.status, h.culprit) == ("ERROR", "tool")
    assert kh.describe_taint((1 << 7) | (1 << 9)) == \
        "D (the kernel died (Oops or BUG)), W (a WARNING)"
    assert kh.taint_value("12288\n") == 12288 and kh.taint_value("cat: no\n") is None


def test_a_death_is_blamed_by_its_trace() -> None:
    h = kh.judge_death("ok 1 echo\n" + OOPS_OURS_ARM64, "killed")
    assert (h.status, h.culprit) == ("FAIL", "code")
    assert h.why.startswith("the VM died: kernel oops in cse, cse_conformance")
    h = kh.judge_death("ok 1 echo\n" + PANIC_SYSRQ, "the guest script never finished")
    assert (h.status, h.culprit) == ("ERROR", "tool")
    assert "kernel panic: Kernel panic - not syncing: sysrq triggered crash" in h.why
    h = kh.judge_death("ok 1 echo\n", "the VM stopped answering")
    assert (h.status, h.culprit) == ("ERROR", "tool") and "console kept" in h.why


def test_any_cse_module_is_ours() -> None:
    assert kh.is_ours("cse_kvstore") and kh.is_ours("cse") and not kh.is_ours("csex")
    log = "BUG: soft lockup - CPU#0 stuck for 22s! [insmod:9]\n spin+0x1/0x2 [spinner]\n"
    assert kh.reports(log, frozenset({"spinner"}))[0].ours == {"spinner"}
