"""Timing search and chat over a real ``shegong serve`` and its memory; the latency summary every
part reports (p50/p95/mean/q/s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.bench.children import child_env
from eval.bench.cluster import free_port
from eval.bench.config import ROOT

__all__ = ["Node", "free_port", "latency_summary", "pct", "serve_latency", "shegong_node"]


def pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(ms: Sequence[float], wall_s: float) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
        "qps": round(len(ms) / wall_s, 2) if wall_s > 0 else None,
    }


# -- a real server -----------------------------------------------------------------------------
def _stop(proc: subprocess.Popen[bytes], grace_s: float = 60) -> float:
    """SIGTERM, wait (then SIGKILL); the child's peak RSS in MB from ``wait4``."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_maxrss / 1024)
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_maxrss / 1024)
        time.sleep(0.1)


@dataclass
class Node:
    """A running ``shegong serve``: its process, base URL, first ``/api/health`` and start-up time;
    ``peak_rss_mb`` is filled in when it has stopped."""

    proc: subprocess.Popen[bytes]
    url: str
    health: dict[str, Any] = field(default_factory=dict)
    startup_s: float = 0.0
    peak_rss_mb: float = 0.0


@contextmanager
def shegong_node(data_dir: Path, env: Mapping[str, str] | None = None, *,
                 timeout_s: float = 900) -> Iterator[Node]:
    """``shegong serve`` on ``data_dir`` (127.0.0.1, a free port, auth off unless ``env`` says
    otherwise; ``env`` adds or overrides SHEGONG_* settings), once ``/api/health`` answers 200;
    stopped with SIGTERM (its peak RSS from ``wait4``) when the block ends."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=child_env(data_dir, **{"SHEGONG_AUTH": "off", **(env or {})}), stdout=log,
            stderr=subprocess.STDOUT,
        )
        node = Node(proc, url)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    r = httpx.get(url + "/api/health", timeout=5)
                    if r.status_code == 200:
                        node.health = r.json()
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"server did not start: {log.read().decode(errors='replace')[-3000:]}")
                time.sleep(0.2)
            node.startup_s = round(time.perf_counter() - t0, 1)
            yield node
        finally:
            node.peak_rss_mb = _stop(proc)


def serve_latency(data_dir: Path, questions: Sequence[str], *, k: int = 10, chat: bool = True, warmup: int = 3,
                  timeout_s: float = 900, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Start ``shegong serve`` on ``data_dir`` (127.0.0.1, a free port; ``env``: more SHEGONG_*
    settings, e.g. SHEGONG_CHROMA_URL), wait for ``/api/health``, send every question to
    ``/api/search`` (k) and, if ``chat``, to ``/api/chat``, one at a time; stop it with SIGTERM.
    ``warmup`` questions go first and are not counted."""
    import httpx
    import psutil

    t0 = time.perf_counter()
    result: dict[str, Any] = {"data_dir": str(data_dir)}
    with shegong_node(data_dir, env, timeout_s=timeout_s) as node:
        health = node.health
        result.update(startup_s=node.startup_s, documents=health.get("documents"),
                      chunks=health.get("chunks"), vectors=health.get("vectors"),
                      vector_store=health.get("vector_store"))
        rss_ready = psutil.Process(node.proc.pid).memory_info().rss / 2**20
        with httpx.Client(base_url=node.url, timeout=120) as client:

            def post(path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                t = time.perf_counter()
                resp = client.post(path, json=body)
                ms = (time.perf_counter() - t) * 1000
                if resp.status_code != 200:
                    raise RuntimeError(f"{path} answered {resp.status_code}: {resp.text[:500]}")
                return ms, resp.json()

            for q in questions[:warmup]:
                post("/api/search", {"query": q, "k": k})
            ms_list: list[float] = []
            n_hits: list[int] = []
            t = time.perf_counter()
            for q in questions:
                ms, out = post("/api/search", {"query": q, "k": k})
                ms_list.append(ms)
                n_hits.append(len(out["hits"]))
                if "sample_doc_ids" not in result:
                    result["sample_doc_ids"] = [h["doc_id"] for h in out["hits"]]
            result["search"] = {**latency_summary(ms_list, time.perf_counter() - t),
                                "k": k, "mean_hits": round(sum(n_hits) / len(n_hits), 2)}
            if chat:
                for q in questions[:warmup]:
                    post("/api/chat", {"question": q, "save": False})
                ms_list, refused = [], 0
                t = time.perf_counter()
                for q in questions:
                    ms, out = post("/api/chat", {"question": q, "save": False})  # no stored conversations
                    ms_list.append(ms)
                    refused += bool(out.get("refused"))
                result["chat"] = {**latency_summary(ms_list, time.perf_counter() - t),
                                  "refused": refused, "mode": out.get("mode")}
        result["rss_ready_mb"] = round(rss_ready)
        result["rss_end_mb"] = round(psutil.Process(node.proc.pid).memory_info().rss / 2**20)
    result["peak_rss_mb"] = round(node.peak_rss_mb)
    result["took_s"] = round(time.perf_counter() - t0, 1)
    return result
