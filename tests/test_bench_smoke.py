"""`make bench` end to end on a tiny scale: every case and mechanism runs and
lands in bench.json with the agreed fields.  No timing is asserted here:
performance claims live in the benchmark's own side-by-side report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from testbed.builds import FLAVOURS, ROOT

FIELDS = {"case", "mechanism", "payload", "inflight", "p50_ns", "p99_ns", "ops_per_s"}
CONNS_FIELDS = {"server_threads", "server_threads_base", "rss_kib_per_conn", "connect_s"}


def test_bench_quick_writes_every_record(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/run.py"), "--quick",
         "--build", str(FLAVOURS["linux"].builddir), "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = json.loads(out.read_text())
    conns = [r for r in records if r["case"] == "conns"]
    records = [r for r in records if r["case"] != "conns"]
    # sync_rtt records add the untimed loop's mean and the clock's cost.
    assert all(set(r) == FIELDS | ({"mean_ns", "clock_ns"} if r["case"] == "sync_rtt" else set())
               for r in records)
    assert all(r["mean_ns"] > 0 and r["clock_ns"] > 0 for r in records
               if r["case"] == "sync_rtt")
    # the connections part (--quick: 1, 10, 100): the server's threads and memory too
    assert {r["mechanism"] for r in conns} == {f"{m}_conns_{n}" for m in ("cse", "futex")
                                               for n in (1, 10, 100)}
    assert all(FIELDS | {"client_sleeps_per_cmd"} <= set(r) and r["ops_per_s"] > 0
               for r in conns)
    assert all(CONNS_FIELDS <= set(r) for r in conns if r["mechanism"].startswith("cse_"))
    assert "Targets (connections)" in proc.stdout
    sync = {(r["mechanism"], r["payload"]) for r in records if r["case"] == "sync_rtt"}
    for mech in ("cse_spin", "cse_nospin", "socketpair", "pipe", "eventfd_shm", "futex_shm",
                 "busypoll_shm"):
        for payload in (64, 4096, 1 << 20):
            assert (mech, payload) in sync
    tput = {(r["mechanism"], r["inflight"]) for r in records if r["case"] == "async_tput"}
    assert tput == {(m, n) for m in ("cse_spin", "cse_nospin") for n in (1, 8, 32)} | {
        ("cse_spin_batch8", 32), ("cse_spin_batch32", 32)}
    assert re.search(r"cse_spin async at 32 in flight.*\b(met|MISSED)\b", proc.stdout), \
        proc.stdout[-3000:]
    assert all(r["ops_per_s"] > 0 for r in records)
    assert "Targets" in proc.stdout
    # The floor ratios from the untimed means, each target marked.
    for payload in ("64 B", "4 KiB"):
        assert re.search(rf"cse_spin / busypoll_shm floor, sync {payload} untimed mean.*"
                         r"\b(met|MISSED)\b", proc.stdout), proc.stdout[-3000:]
    assert "untimed mean" in proc.stdout and "clock in each sample" in proc.stdout


def test_touches_builds_and_times_every_variant() -> None:
    """bench/touches.py: every edit still applies to the tree (it names the
    file when one does not), every variant builds and runs, each gets a row."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/touches.py"), "--rounds", "1", "--iters", "2000"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    from bench import touches

    for v in touches.VARIANTS:
        assert re.search(rf"^{re.escape(v.name)} +\d+\.\dns .*x  ", proc.stdout, re.M), \
            proc.stdout


def test_bench_vm_part_records_user_to_kernel(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/run.py"), "--quick", "--vm", "--no-conns",
         "--mechanisms", "cse_spin", "--build", str(FLAVOURS["linux"].builddir),
         "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    uk = [r for r in json.loads(out.read_text()) if r["case"] == "uk_sync_rtt"]
    assert {r["mechanism"] for r in uk} == {"ioctl", "io_uring_nop", "cse_uk_spin",
                                           "cse_uk_nospin", "cse_uk_call", "cse_uk_call_raw"}
    assert all(r["p50_ns"] > 0 for r in uk)
    assert "p50 / bare ioctl" in proc.stdout
    # The slot's offset in one ioctl that runs the handler, with its target.
    assert "cse_uk_call / bare ioctl" in proc.stdout
    assert re.search(r"cse_uk_call / bare ioctl.*\b(met|MISSED)\b", proc.stdout), \
        proc.stdout[-2000:]
    # K-U: a kernel client timing round trips to a user server.
    ku = [r for r in json.loads(out.read_text()) if r["case"] == "ku_sync_rtt"]
    assert [r["mechanism"] for r in ku] == ["cse_ku_spin"], proc.stdout[-2000:]
    assert ku[0]["p50_ns"] > 0
    assert "K-U / U-K sync round trip, 64 B, spinning:" in proc.stdout
    # The U-K backup path both ways (bench-uk checks each took its path).
    backup = {r["mechanism"]: r for r in json.loads(out.read_text())
              if r["case"] == "uk_backup_rtt"}
    assert set(backup) == {"cse_uk_backup_call", "cse_uk_backup_msg"}
    assert all(r["payload"] == 4096 and r["p50_ns"] > 0 for r in backup.values())
    assert "one CALL ioctl / SEND+RECV messages:" in proc.stdout
    # Throughput, 32 in flight: io_uring NOPs, CSE one by one, CSE batched
    # (asynchronous: one FIFO burst; synchronous: one CALL ioctl).
    batch = {r["mechanism"]: r for r in json.loads(out.read_text())
             if r["case"] == "uk_batch_tput"}
    assert set(batch) == {"io_uring_nop_batch32", "cse_uk_async32", "cse_uk_async_batch32",
                          "cse_uk_batch32"}
    assert all(r["inflight"] == 32 and r["ops_per_s"] > 0 for r in batch.values())
    assert re.search(r"cse_uk_batch32 / io_uring_nop_batch32.*\b(met|MISSED)\b",
                     proc.stdout), proc.stdout[-2000:]
    # The kvstore example: the same client binary, a user server and kvstore.ko.
    kv = {r["mechanism"]: r for r in json.loads(out.read_text()) if r["case"] == "kvstore_get"}
    assert set(kv) == {"kvstore_uu", "kvstore_uk"}, proc.stdout[-2000:]
    assert all(r["payload"] == 64 and r["p50_ns"] > 0 and r["ops_per_s"] > 0 for r in kv.values())
    assert "kvstore get, 64 B, U-K / U-U: p50 " in proc.stdout


def test_bench_python_part_writes_every_record(tmp_path: Path) -> None:
    """run.py --python on a tiny scale: every Python mechanism and payload
    (the binding, the busy-poll floor, iceoryx2, zmq, multiprocessing.Pipe,
    a socketpair) and the three async forms land in bench.json."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/run.py"), "--quick", "--python", "--mechanisms", "",
         "--no-conns",
         "--build", str(FLAVOURS["linux"].builddir), "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = json.loads(out.read_text())
    assert records and all(set(r) == FIELDS for r in records)
    sync = {(r["mechanism"], r["payload"]) for r in records if r["case"] == "py_sync_rtt"}
    assert sync == {(m, p) for m in ("python_cse", "python_busypoll", "python_iceoryx2",
                                     "python_zmq", "python_mp_pipe", "python_socketpair")
                    for p in (64, 4096)}
    tput = {(r["mechanism"], r["inflight"]) for r in records if r["case"] == "py_async_tput"}
    assert tput == {("python_cse_batch", 32), ("python_cse_batch", 64),
                    ("python_cse_submit", 32), ("python_cse_acall", 32)}
    assert all(r["ops_per_s"] > 0 and r["p50_ns"] > 0 for r in records)
    assert "Python targets" in proc.stdout and "crossings" in proc.stdout
