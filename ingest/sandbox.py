"""Parse untrusted files in a child process with time and memory limits.

``load_sandboxed(path, ...)`` runs ``python -m ingest.sandbox PATH`` with ``RLIMIT_AS`` and
``RLIMIT_CPU`` set and a wall-clock timeout; the child prints the parsed documents as JSON. A
crash, hang or memory blow-up of the parser becomes an :class:`IngestError` for that file only.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from app.core.errors import IngestError
from ingest.loaders import RawDoc, load_path

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_sandboxed(path: Path, *, timeout_s: float, memory_mb: int) -> list[RawDoc]:
    """Parse ``path`` in a child process; raise :class:`IngestError` with the reason on failure."""

    def limits() -> None:  # runs in the child before exec
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        os.nice(5)

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ingest.sandbox", str(path)],
            capture_output=True,
            timeout=timeout_s,
            preexec_fn=limits,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise IngestError(f"解析超时（超过 {timeout_s:.0f} 秒），文件可能过大或已损坏。") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "MemoryError" in err or proc.returncode in (-9, 137):
            raise IngestError(f"解析时内存超过上限（{memory_mb} MB），文件可能过大或是压缩炸弹。")
        if proc.returncode in (-24, -signal_xcpu()):
            raise IngestError(f"解析耗时超过上限（{timeout_s:.0f} 秒 CPU 时间）。")
        last = err.strip().splitlines()[-1:] or ["（无输出）"]
        raise IngestError(f"解析进程异常退出（代码 {proc.returncode}）：{last[0][:300]}")
    try:
        payload = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise IngestError("解析进程返回了无法读取的结果。") from exc
    if "error" in payload:
        raise IngestError(payload["error"])
    return [RawDoc(**d) for d in payload["docs"]]


def signal_xcpu() -> int:
    import signal

    return int(signal.SIGXCPU)


def _main(argv: list[str]) -> int:
    path = Path(argv[1])
    try:
        docs = load_path(path)
        out: dict[str, object] = {"docs": [asdict(d) for d in docs]}
    except IngestError as exc:
        out = {"error": str(exc)}
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        return 3
    sys.stdout.write(json.dumps(out, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
