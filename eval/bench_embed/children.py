"""The parent's side of a child: which interpreter can run a backend, and running one to its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench_embed.backends import ROOT, Backend
from eval.bench_embed.timing import _tail


def _has_modules(python: Path, modules: Sequence[str]) -> bool:
    code = "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in sys.argv[1:]) else 1)"
    try:
        return subprocess.run([str(python), "-c", code, *modules], cwd=ROOT, capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def python_for(backend: Backend, study: Path) -> Path | None:
    """The project venv when it has what the backend needs, else the study venv, else None."""
    for python in (Path(sys.executable), study):
        if python.exists() and _has_modules(python, (*backend.modules, "app")):
            return python
    return None


@dataclass
class Runner:
    tmp: Path
    model_dir: Path
    artifacts: Path
    data: Path
    timeout: float

    def run(self, backend: Backend, python: Path, mode: str, **extra: Any) -> dict[str, Any]:
        job = self.tmp / f"{backend.name}-{mode}"
        job.mkdir(parents=True, exist_ok=True)
        spec = {"backend": backend.name, "mode": mode, "model_dir": str(self.model_dir),
                "artifacts": str(self.artifacts), "data": str(self.data), "tmp": str(job),
                "out": str(job / "result.json"), "vectors": str(job / "vectors.npz"), **extra}
        spec_path = job / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        threads = str(backend.threads)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore", **dict(backend.env)}
        logpath = job / "child.log"
        with logpath.open("wb") as logf:
            proc = subprocess.Popen([str(python), "-m", "eval.bench_embed", "--worker", str(spec_path)], cwd=ROOT,
                                    env=env, stdout=logf, stderr=None, start_new_session=False)
            try:
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return {"ok": False, "reason": f"timed out after {self.timeout:.0f} s"}
        out = Path(spec["out"])
        if not out.exists():
            return {"ok": False, "reason": f"child exited with {rc}: {_tail(logpath)}"}
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        if not result.get("ok"):
            result["reason"] = f"{result.get('reason')} [{_tail(logpath, 200)}]"
        result["vectors"] = spec["vectors"]
        return result
