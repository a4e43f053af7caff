"""The control channel's layout (issue 15 item 5), checked from the tree:

- one file per transport, under the same names in platforms/posix/ and
  kernel/linux/ where the concern is the same (ctl.c, ctl_dev.c, ctl_tcp.c;
  the poller is poller.c in every backend and in the kernel), and no
  mixed files left (posix/ctl.c and kernel os_ctl.c held three transports);
- the Linux-only chunk declarations live in platforms/linux/linux.h, not
  in the shared posix.h;
- CSE_SERVER_ID_MAX is defined once, in abi.h, beside the one server_id
  check every door calls, and no door checks a server_id its own way.

That behaviour stayed the same is what the C suites show (test-contract
server_id_rules, the conformance scenarios, the kernel runs).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSIX = ROOT / "platforms" / "posix"
KERNEL = ROOT / "kernel" / "linux"


def test_one_file_per_transport_same_names() -> None:
    for name in ("ctl.c", "ctl_dev.c", "ctl_tcp.c", "ctl_int.h"):
        assert (POSIX / name).is_file() and (KERNEL / name).is_file(), name
    assert (POSIX / "ctl_unix.c").is_file()
    assert (KERNEL / "poller.c").is_file()
    for backend in ("linux", "emulated", "freebsd"):
        assert (ROOT / "platforms" / backend / "poller.c").is_file()
    assert not (KERNEL / "os_ctl.c").exists() and not (KERNEL / "cse_dev.c").exists()
    kbuild = (KERNEL / "Kbuild").read_text()
    for obj in ("ctl.o", "ctl_dev.o", "ctl_tcp.o", "poller.o"):
        assert obj in kbuild


def test_transport_files_stay_small() -> None:
    """No file mixes transports again: each well under the 700 lines the
    mixed ones had."""
    for f in [*POSIX.glob("ctl*.c"), *KERNEL.glob("ctl*.c"), KERNEL / "poller.c"]:
        n = len(f.read_text().splitlines())
        assert n < 500, f"{f.relative_to(ROOT)}: {n} lines"


def test_linux_declarations_out_of_posix_h() -> None:
    assert "cse_linux_" not in (POSIX / "posix.h").read_text()
    linux_h = (ROOT / "platforms" / "linux" / "linux.h").read_text()
    assert "cse_linux_dev_chunk_add" in linux_h and "cse_linux_dev_chunk_map" in linux_h


def test_server_id_checked_in_one_place() -> None:
    inc = ROOT / "cse" / "include" / "cse"
    assert "#define CSE_SERVER_ID_MAX" not in (inc / "cse.h").read_text()
    abi = (inc / "abi.h").read_text()
    assert "#define CSE_SERVER_ID_MAX" in abi and "cse_server_id_valid(" in abi
    assert "char server_id[64]" not in abi
    # (/dev/cse's ioctl passes the id to ctl.c's listen and connect, which
    # judge it after -EISCONN, as before)
    doors = [ROOT / "cse/src/client.c", ROOT / "cse/src/server.c", POSIX / "ctl_unix.c",
             KERNEL / "ctl.c"]
    for f in doors:
        text = f.read_text()
        assert "cse_server_id_valid(" in text, f
        assert not re.search(r"isalnum|ctl_id_char_ok", text), f
    # cse.h says which characters a server_id may have
    assert "a-z, A-Z" in (inc / "cse.h").read_text()
