"""Tests' helpers for the Python binding (the `cse` package): the Python
conformance server (conf_server.py), the conformance scenarios written with
the binding (scenarios.py) and their KTAP runner (ktap_run.py), and the
peers they start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONF_SERVER = HERE / "conf_server.py"
KTAP_RUN = HERE / "ktap_run.py"


def helper_script(build_root: Path = ROOT / "build") -> Path:
    """An executable that runs conf_server.py with this Python (the .venv's),
    for those that exec a program by path: the C conformance world
    ($CSE_CONF_HELPER) and the kernel's usermode helper (K-U server_death,
    which starts it with nothing but PATH in its environment)."""
    path = build_root / "python" / "cse-py-conf-helper"
    text = f'#!/bin/sh\nexec {sys.executable} {CONF_SERVER} "$@"\n'
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(path)
    return path
