"""An optional second stage: a cross-encoder re-scores the fused candidates.

Off by default (no cross-encoder ships offline). An operator who has one — e.g. a local copy of
``BAAI/bge-reranker-base`` — names its directory in ``SHEGONG_RERANK_MODEL``; the retriever then
re-orders its first ``SHEGONG_RERANK_DEPTH`` candidates by the cross-encoder's score.

>>> r = CrossEncoderReranker("/models/bge-reranker-base")          # doctest: +SKIP
>>> r.scores("走访要带什么？", ["带好工作证。", "补贴标准"])            # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from app.core.errors import ModelFileError


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant."""

    model_id: str

    def scores(self, query: str, passages: Sequence[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local directory (loaded on first use)."""

    def __init__(self, model_dir: str, *, max_length: int = 512, batch_size: int = 16) -> None:
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise ModelFileError(f"重排序模型目录 {model_dir} 无效：缺少 config.json（应为本地的 cross-encoder 模型目录）。")
        self.model_id = f"cross-encoder/{path.name}"
        self._path, self._max_length, self._batch_size = path, max_length, batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(str(self._path), max_length=self._max_length, device="cpu",
                                           local_files_only=True)
        return self._model

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        model = self._load()
        out = model.predict([(query, p) for p in passages], batch_size=self._batch_size, show_progress_bar=False)
        return [float(x) for x in out]
