"""Running measured children: each figure comes from a Python child whose peak RSS ``wait4`` reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.config import MODELS_DIR, ROOT


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    report: dict[str, Any]


def child_env(data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SHEGONG_MODELS_DIR": str(MODELS_DIR), **extra}
    if data_dir is not None:
        env["SHEGONG_DATA_DIR"] = str(data_dir)
    return env


def run_child(cmd: list[str], env: dict[str, str], what: str) -> Run:
    """Run a Python child to the end; its own peak RSS comes from ``wait4``; JSON stdout is parsed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(stdout) if stdout.strip().startswith(b"{") else {}
    return Run(seconds, usage.ru_maxrss / 1024, report)


def run_cli(args: list[str], data_dir: Path) -> Run:
    """Run ``shegong ARGS`` in a child on ``data_dir``."""
    return run_child(["-m", "app.cli", *args], child_env(data_dir), f"shegong {' '.join(args)}")

