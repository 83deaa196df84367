"""Hybrid retrieval: dense search in Chroma plus BM25, each over-fetched, fused by rank.

>>> r = Retriever(embedder, store, manifest, settings.lexical_dir)     # doctest: +SKIP
>>> [h.title for h in r.search("残疾人两项补贴怎么申请", k=3)]          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.embedder import Embedder
from app.core.index import KnowledgeIndex
from app.core.lexical import LexicalIndex
from app.core.manifest import Manifest
from app.core.store import ChromaStore
from app.core.text import normalize_query
from app.core.types import OPEN_END, OPEN_START, Chunk, Hit, date_number
from app.rag.fusion import FusionConfig, fuse
from app.rag.regions import RegionTree
from app.rag.reranker import Reranker
from app.rag.terms import general_weight

log = logging.getLogger(__name__)


@dataclass
class Filters:
    """Hard filters. Regions are not filtered but ranked (see ``prefer_region``)."""

    doc_type: list[str] | None = None
    issuer: str | None = None
    in_force_on: str | None = None  # ISO date: effective_from <= D < effective_to
    exclude_doc_ids: list[str] | None = None  # withhold these documents (how refusals are trained)

    def chroma_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.doc_type:
            clauses.append({"doc_type": {"$in": list(self.doc_type)}})
        if self.issuer:
            clauses.append({"issuer": self.issuer})
        if self.in_force_on:
            d = date_number(self.in_force_on, 0)
            clauses += [{"eff_from_n": {"$lte": d}}, {"eff_to_n": {"$gt": d}}]
        if self.exclude_doc_ids:
            clauses.append({"doc_id": {"$nin": list(self.exclude_doc_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, chunk: Chunk) -> bool:
        m = chunk.meta
        if self.doc_type and m.doc_type not in self.doc_type:
            return False
        if self.issuer and m.issuer != self.issuer:
            return False
        if self.exclude_doc_ids and chunk.doc_id in self.exclude_doc_ids:
            return False
        if self.in_force_on:
            d = date_number(self.in_force_on, 0)
            if not date_number(m.effective_from, OPEN_START) <= d < date_number(m.effective_to, OPEN_END):
                return False
        return True


@dataclass(frozen=True)
class RetrievalConfig:
    over_fetch: int = 60
    # diversity: at most this many chunks of one document in the results. 6, as many as the answer
    # reads: a statute's answer is often its 5th or 6th best article. Chunk recall@6 on 240 development
    # questions over 8 laws (eval/train_laws questions-b/-c): 4 -> 0.804, 6 -> 0.842 (2026-12-04).
    max_per_doc: int = 6
    region_boost: float = 1.0  # fused score x (1 + boost) for the worker's region and its parents
    other_region_penalty: float = 0.2  # x (1 - penalty) for another district's or street's rules
    fusion: FusionConfig = field(default_factory=FusionConfig)


class Retriever:
    """Dense + lexical retrieval over one knowledge base; safe to share between threads."""

    def __init__(
        self,
        embedder: Embedder,
        store: ChromaStore,
        manifest: Manifest,
        lexical_dir: Path,
        *,
        config: RetrievalConfig | None = None,
        regions: RegionTree | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int = 20,
    ) -> None:
        if rerank_depth <= 0:
            raise ValueError("rerank_depth must be positive")
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self.embedder = embedder
        self.store = store
        self.manifest = manifest
        self.lexical_dir = lexical_dir
        self.index = KnowledgeIndex(manifest, store, lexical_dir)
        self.config = config or RetrievalConfig()
        self.regions = regions or RegionTree({})
        self._lock = threading.Lock()
        self._generation = -1
        self._chunks: dict[str, Chunk] = {}
        self._order: dict[tuple[str, int], str] | None = None  # (doc_id, position) -> chunk id, made when first asked
        self._lexical: LexicalIndex | None = None
        self._texts: list[str] = []
        self._titles: dict[str, str] = {}
        self._df: dict[str, int] = {}
        self._qvecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()

    # -- derived indexes, kept in step with the manifest ---------------------------------------
    def _loaded(self) -> None:
        """The derived indexes as the last search saw them (loaded on first use): lookups made while
        answering one question read the same snapshot, without asking the manifest each time."""
        if self._generation < 0:
            self._refresh()

    def _refresh(self) -> None:
        """Reload the derived indexes when the manifest changed: once per search. After the first
        load only the documents changed since are read (by their stamps), and the lexical index
        lays them over the one it has, so a new upload costs its own size, not the store's."""
        gen = self.manifest.generation
        if gen == self._generation:
            return
        with self._lock:
            if gen == self._generation:
                return
            # A reader never writes the saved index: ingest saves it under the data dir's lock.
            # The chunks held are never older than the lexical index's document stamps, against
            # which the next refresh reads what changed: one read of the changes serves both when
            # the index laid them over itself; else every chunk is read after the index.
            known = self._lexical
            changes = self.index.changes_since(known.stamps) if known is not None and known.stamps is not None else None
            lex = self.index.lexical(save=False, known=known, changes=changes)
            if changes is not None and lex.stamps == changes[0]:
                _, changed, fresh = changes
                chunks = {cid: c for cid, c in self._chunks.items() if c.doc_id not in changed}
                chunks.update((c.chunk_id, c) for c in fresh)
            else:
                chunks = {c.chunk_id: c for c in self.manifest.chunks()}
            self._texts = [c.embed_text for c in chunks.values()]
            self._titles = {c.doc_id: c.title for c in chunks.values()}
            self._df = {}
            self._chunks, self._lexical, self._order, self._generation = chunks, lex, None, gen

    def chunk(self, chunk_id: str) -> Chunk | None:
        self._loaded()
        return self._chunks.get(chunk_id)

    def following(self, chunk_id: str) -> Chunk | None:
        """The chunk after this one in its document (an article cut by the chunk size goes on there)."""
        self._loaded()
        chunks, order = self._chunks, self._order
        if order is None:
            order = {(c.doc_id, c.position): cid for cid, c in chunks.items()}
            self._order = order
        c = chunks.get(chunk_id)
        nxt = order.get((c.doc_id, c.position + 1)) if c is not None else None
        return chunks.get(nxt) if nxt is not None else None

    def doc_title(self, doc_id: str) -> str | None:
        self._loaded()
        return self._titles.get(doc_id)

    def idf(self, term: str) -> float:
        """log((N+1)/(df+1)) + 1 over chunks, cached per manifest generation."""
        self._loaded()
        df = self._df.get(term)
        if df is None:
            df = sum(1 for t in self._texts if term in t)
            if len(self._df) > 50_000:
                self._df.clear()
            self._df[term] = df
        return (math.log((len(self._texts) + 1) / (df + 1)) + 1.0) * general_weight(term)

    # -- the two retrievers --------------------------------------------------------------------
    def query_vector(self, query: str) -> np.ndarray:
        """The question's unit vector, embedded once: retrieval and the answer selector share it."""
        with self._qlock:
            vec = self._qvecs.get(query)
        if vec is None:
            vec = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
            with self._qlock:
                self._qvecs[query] = vec
                while len(self._qvecs) > 32:  # within a request and a few retries, not across workers
                    self._qvecs.popitem(last=False)
        return vec

    def dense(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        vec = self.query_vector(query)
        where = filters.chroma_where() if filters else None
        return [(h.chunk_id, h.score) for h in self.store.query(vec, n, where)]

    def lexical(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        self._loaded()
        assert self._lexical is not None
        hits = self._lexical.search(query, n * 3 if filters else n)
        if filters:
            hits = [(cid, s) for cid, s in hits if (c := self._chunks.get(cid)) is not None and filters.accepts(c)]
        return hits[:n]

    def coverage(self, query: str, chunk_id: str) -> float:
        """How much of the query (IDF-weighted tokens) the chunk holds: 0 for an unknown chunk."""
        self._loaded()
        assert self._lexical is not None
        c = self._chunks.get(chunk_id)
        return self._lexical.coverage(query, c.text) if c is not None else 0.0

    # -- search --------------------------------------------------------------------------------
    def _rerank(self, q: str, scored: list[tuple[float, Chunk]]) -> list[tuple[float, Chunk]]:
        """Re-order the first ``rerank_depth`` candidates by the cross-encoder; the rest follow."""
        assert self.reranker is not None
        head, tail = scored[: self.rerank_depth], scored[self.rerank_depth:]
        ce = self.reranker.scores(q, [c.embed_text for _, c in head])
        ranked = sorted(zip(ce, head, strict=True), key=lambda x: -x[0])
        # keep a rank-like positive score so callers that compare scores still see an order
        n = len(ranked)
        return [((n - i) / n + 1.0, c) for i, (_, (_, c)) in enumerate(ranked)] + [(s / 10, c) for s, c in tail]

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
        lexical_query: str | None = None,
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``; ``lexical_query`` (if given) adds terms for BM25 only."""
        if k <= 0:
            raise ValueError("k must be positive")
        self._refresh()
        q = normalize_query(query)
        if not q or not self._chunks:
            return []
        n = max(self.config.over_fetch, k)
        dense = self.dense(q, n, filters)
        lq = normalize_query(lexical_query) if lexical_query else q
        lexical = self.lexical(lq, n, filters)
        fused = fuse({"dense": dense, "lexical": lexical}, self.config.fusion,
                     coverage={"lexical": self.coverage(lq, lexical[0][0])} if lexical else None)
        d_scores, l_scores = dict(dense), dict(lexical)
        preferred = self.regions.lineage(prefer_region) if prefer_region else set()
        scored: list[tuple[float, Chunk]] = []
        for cid, score in fused:
            c = self._chunks.get(cid)
            if c is None:
                continue
            if preferred:
                if c.meta.region in preferred:
                    score *= 1.0 + self.config.region_boost
                elif c.meta.region in self.regions:  # a known region outside the worker's lineage
                    score *= 1.0 - self.config.other_region_penalty
            scored.append((score, c))
        scored.sort(key=lambda x: -x[0])
        if self.reranker is not None and scored:
            scored = self._rerank(q, scored)
        hits: list[Hit] = []
        per_doc: dict[str, int] = {}
        for score, c in scored:
            if per_doc.get(c.doc_id, 0) >= self.config.max_per_doc:
                continue
            per_doc[c.doc_id] = per_doc.get(c.doc_id, 0) + 1
            hits.append(Hit.from_chunk(c, score, d_scores.get(c.chunk_id), l_scores.get(c.chunk_id)))
            if len(hits) >= k:
                break
        return hits
