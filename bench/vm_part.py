"""The VM part of `make bench`: round trips between user space and the
kernel, measured inside a QEMU VM (this machine's kernel cannot load
modules) with cse.ko loaded: a bare ioctl into cse.ko, an io_uring NOP, a
synchronous CSE command from a user client to a kernel server (U-K),
spinning and not, and in one ioctl that runs the handler (cse_uk_call),
and one from a kernel client to a user server (K-U,
timed by cse_conformance.ko's bench_server); the U-K backup path, 4 KiB,
in one CALL ioctl against the messages it replaced; and the kvstore
example's get of a 64 B value, one client binary against the user server
(kvstore_uu) and against kvstore.ko (kvstore_uk), alternating rounds.
Under TCG absolute times mean little; the ratios, measured side by side
in one VM, are the result."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

from testbed.cellscript import between, section
from testbed.kbuild import build_modules, module_dir
from testbed.provision.qemu.vm import default_kernel, run_in_vm

UK_MECHS = ("ioctl", "cse_uk_call", "cse_uk_call_raw", "io_uring_nop", "cse_uk_spin",
            "cse_uk_nospin", "cse_ku_spin")
#: cse_uk_call's p50 over a bare ioctl's, at most (issue 15, item 1)
TARGET_UK_CALL_X = 1.1
#: batched U-K throughput, 32 per doorbell: (record, what it is), as printed
UK_BATCH_MECHS = (("io_uring_nop_batch32", "32 io_uring NOPs, one submit_and_wait"),
                  ("cse_uk_async32", "32 async 64 B commands, one cse_execute() each"),
                  ("cse_uk_async_batch32", "the same 32 in one cse_execute_batch()"),
                  ("cse_uk_batch32", "32 sync inline 64 B commands, one batch: one CALL"))
#: cse_uk_batch32's ops/s over io_uring_nop_batch32's, at least (issue 15, item 2)
TARGET_UK_BATCH_X = 1.0
#: the user server the kernel client times (started in the guest)
KU_SERVER = "ubench-inline"
_KU_RECORD = re.compile(r"cse_bench: (\{.*\})")
#: kvstore: direction -> server id; rounds alternate U-U and U-K
KV_SERVERS = {"kvstore_uu": "kvbench-user", "kvstore_uk": "kvbench-kernel"}
KV_ROUNDS = 3
_KV_RECORD = re.compile(r"^kvstore_bench: (\{.*\})$", re.M)


def run_vm_part(build: Path, iters: int) -> tuple[list[dict[str, Any]], str]:
    """Boot the default kernel, run bench-uk; return its records and the log path."""
    kernel = default_kernel()
    moddir = build_modules(kernel)
    bench = build.resolve() / "bench" / "bench-uk"
    helper = build.resolve() / "tests" / "cse-conf-helper"
    kv_client = build.resolve() / "examples" / "kvstore" / "kvstore-client"
    kv_server = build.resolve() / "examples" / "kvstore" / "kvstore-server"
    kv_runs = "".join(section(f"bench-{mech}-{r}", f"{kv_client} {sid} bench={iters} 2>&1")
                      for r in range(KV_ROUNDS) for mech, sid in KV_SERVERS.items())
    # The user server starts after cse.ko, so it registers for kernel clients.
    script = (f"insmod {moddir}/cse.ko\n"
              f"insmod {moddir}/cse_conformance.ko run_kk=0\n"
              + section("bench", f"{bench} kconf-inline {iters}")
              + "rmmod cse_conformance\n"
              + f"{helper} server {KU_SERVER} & server=$!\n"
              + f"insmod {moddir}/cse_conformance.ko run_kk=0 bench_server={KU_SERVER} "
                f"bench_iters={iters}\n"
              + section("bench-ku", "dmesg | grep cse_bench:")
              + "kill $server; wait\nrmmod cse_conformance\n"
              + f"{kv_server} {KV_SERVERS['kvstore_uu']} & server=$!\n"
              + f"insmod {moddir}/kvstore/kvstore.ko server_id={KV_SERVERS['kvstore_uk']}\n"
              + kv_runs
              + "kill $server; wait\nrmmod kvstore\nrmmod cse\n")
    logdir = module_dir(kernel.release) / "bench-vm"
    res = run_in_vm(kernel, script, timeout_s=1800, log_dir=logdir)
    lines = between(res.output, "bench").splitlines()
    # The console echoes kernel messages too: the record may appear twice.
    lines += _KU_RECORD.findall(between(res.output, "bench-ku"))[-1:]
    records = []
    for line in lines:
        if line.startswith("{"):
            rec = json.loads(line)
            rec["kernel"] = kernel.release
            records.append(rec)
    records += kvstore_records(res.output, kernel.release)
    return records, str(res.console_log)


def kvstore_records(output: str, release: str) -> list[dict[str, Any]]:
    """kvstore_uu and kvstore_uk: the median of each figure over the rounds,
    in the schema of the other records (ops/s from the client's total)."""
    out = []
    for mech in KV_SERVERS:
        runs = [json.loads(m) for r in range(KV_ROUNDS)
                for m in _KV_RECORD.findall(between(output, f"bench-{mech}-{r}"))]
        if not runs:
            continue
        for run in runs:
            run["ops_per_s"] = run["iters"] * 1e9 / run["total_ns"] if run["total_ns"] else 0.0
        out.append({"case": "kvstore_get", "mechanism": mech, "payload": runs[0]["payload"],
                    "inflight": 1,
                    "p50_ns": round(statistics.median(r["p50_ns"] for r in runs)),
                    "p99_ns": round(statistics.median(r["p99_ns"] for r in runs)),
                    "ops_per_s": round(statistics.median(r["ops_per_s"] for r in runs), 1),
                    "kernel": release})
    return out


def kvstore_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """[mechanism, ops/s, p50 ns, p99 ns, p50 / kvstore_uu] per kvstore record."""
    kv = {r["mechanism"]: r for r in records if r["case"] == "kvstore_get"}
    base = kv.get("kvstore_uu", {}).get("p50_ns")
    rows = []
    for mech in KV_SERVERS:
        if mech not in kv:
            rows.append([mech, "not run", "", "", ""])
            continue
        r = kv[mech]
        rows.append([mech, f"{r['ops_per_s']:.0f}", f"{r['p50_ns']}", f"{r['p99_ns']}",
                     f"{r['p50_ns'] / base:.2f}x" if base else "n/a"])
    return rows


def kvstore_uk_vs_uu(records: list[dict[str, Any]]) -> str:
    """U-K over U-U for the kvstore get, p50 and ops/s, as printed."""
    kv = {r["mechanism"]: r for r in records if r["case"] == "kvstore_get"}
    uu, uk = kv.get("kvstore_uu"), kv.get("kvstore_uk")
    label = "kvstore get, 64 B, U-K / U-U"
    if not (uu and uk and uu["p50_ns"] and uu["ops_per_s"]):
        return f"{label}: not measured (see the console log)"
    return (f"{label}: p50 {uk['p50_ns'] / uu['p50_ns']:.2f}x, "
            f"ops/s {uk['ops_per_s'] / uu['ops_per_s']:.2f}x")


def _p50_ratio(records: list[dict[str, Any]], label: str, num: str, den: str) -> str:
    """"@label: p50(@num) / p50(@den)x", as printed."""
    p50 = {r["mechanism"]: r["p50_ns"] for r in records}
    if not (p50.get(num) and p50.get(den)):
        return f"{label}: not measured (see the console log)"
    return f"{label}: {p50[num] / p50[den]:.2f}x"


def ku_vs_uk(records: list[dict[str, Any]]) -> str:
    """K-U sync round trip over U-K's (both spinning), as printed."""
    return _p50_ratio(records, "K-U / U-K sync round trip, 64 B, spinning",
                      "cse_ku_spin", "cse_uk_spin")


def _batch_rates(records: list[dict[str, Any]]) -> dict[str, float]:
    return {r["mechanism"]: r["ops_per_s"] for r in records if r["case"] == "uk_batch_tput"}


def batch_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """[mechanism, what, ops/s, round p50 ns, / io_uring_nop_batch32] per batch record."""
    recs = {r["mechanism"]: r for r in records if r["case"] == "uk_batch_tput"}
    base = recs.get("io_uring_nop_batch32", {}).get("ops_per_s")
    rows = []
    for mech, what in UK_BATCH_MECHS:
        if mech not in recs:
            rows.append([mech, what, "not run", "", ""])
            continue
        r = recs[mech]
        rows.append([mech, what, f"{r['ops_per_s']:.0f}", f"{r['p50_ns']}",
                     f"{r['ops_per_s'] / base:.2f}x" if base else "n/a"])
    return rows


def uk_targets(records: list[dict[str, Any]]
               ) -> list[tuple[str, float | None, float | None, float, bool]]:
    """The U-K targets as (name, measured, baseline, limit, at_least): the
    ratio measured / baseline must be at least, or at most, limit (run.py's
    ratio_target() judges them as it judges every other target)."""
    p50 = {r["mechanism"]: r["p50_ns"] for r in records if r["case"] == "uk_sync_rtt"}
    rate = _batch_rates(records)
    return [("cse_uk_call / bare ioctl, sync 64 B p50 (TCG, one VM)",
             p50.get("cse_uk_call"), p50.get("ioctl"), TARGET_UK_CALL_X, False),
            ("cse_uk_batch32 / io_uring_nop_batch32, ops/s (TCG, one VM)",
             rate.get("cse_uk_batch32"), rate.get("io_uring_nop_batch32"), TARGET_UK_BATCH_X,
             True)]


def backup_call_vs_msg(records: list[dict[str, Any]]) -> str:
    """U-K backup in one ioctl over the same command as messages, as printed."""
    return _p50_ratio(records,
                      "U-K backup 4 KiB round trip, one CALL ioctl / SEND+RECV messages",
                      "cse_uk_backup_call", "cse_uk_backup_msg")


def ratio_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """[mechanism, p50 ns, p50 / bare ioctl, p50 / io_uring NOP] per mechanism."""
    p50 = {r["mechanism"]: r["p50_ns"] for r in records}
    rows = []
    for mech in UK_MECHS:
        if mech not in p50:
            rows.append([mech, "not run", "", ""])
            continue
        vs = [f"{p50[mech] / p50[base]:.2f}x" if p50.get(base) else "n/a"
              for base in ("ioctl", "io_uring_nop")]
        rows.append([mech, f"{p50[mech]}", *vs])
    return rows
