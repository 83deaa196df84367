"""A BM25 index over Chinese tokens, kept beside the vector store.

Tokens are single characters and character bigrams of Chinese runs plus lower-cased Latin words
and numbers (``2000元`` gives ``2000`` and ``元``), which needs no dictionary and handles names and
figures that a word segmenter splits badly. The index is derived from the manifest and saved with
the manifest generation it was built from and each document's stamp (:meth:`Manifest.doc_stamps`).

When a few documents change, the index is not rebuilt: :meth:`LexicalIndex.with_changes` drops the
changed documents' chunks from the built base and keeps their new chunks in a small overlay, scored
with the same BM25 (Lucene) formulas of bm25s and the base's statistics (document frequencies over
base and overlay, the base's mean length). Past :data:`OVERLAY_MAX` the caller builds anew. So a
node whose manifest gained one document serves it at once instead of re-indexing the whole store.

>>> idx = LexicalIndex.build(["社区工作者走访独居老人"], ["c1"])
>>> idx.search("独居老人", k=1)[0][0]
'c1'
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def tokenize(text: str) -> list[str]:
    """Chinese characters and bigrams, Latin words and numbers."""
    text = text.lower()
    tokens: list[str] = []
    for run in _CJK_RUN.findall(text):
        tokens.extend(run)
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    tokens.extend(_LATIN.findall(text))
    return tokens


K1, B = 1.2, 0.75  # bm25s defaults, kept explicit: the overlay's scores use the same
OVERLAY_MAX = (500, 0.02)  # an overlay past max(500 chunks, 2% of the base) calls for a new build


@dataclass(frozen=True)
class _Added:
    chunk_id: str
    doc_id: str
    text: str
    counts: Counter[str]
    length: int


class LexicalIndex:
    """BM25 (bm25s, Lucene variant) over :func:`tokenize` tokens: a built base, less the chunks
    of documents changed since, plus their new chunks in an overlay."""

    def __init__(self, retriever: object, ids: list[str], generation: int = 0, *, docs: list[str] | None = None,
                 stamps: Mapping[str, str] | None = None, avgdl: float | None = None) -> None:
        self._bm25 = retriever
        self._base_ids = ids
        self._base_docs = docs  # each base chunk's document (None: an index saved before stamps)
        self.generation = generation
        self.stamps = dict(stamps) if stamps is not None else None  # the documents it holds, as of its build
        self.avgdl = avgdl
        self._gone: frozenset[int] = frozenset()  # base positions of changed documents' old chunks
        self._added: tuple[_Added, ...] = ()
        self._postings: dict[str, list[tuple[int, int]]] = {}  # overlay: token -> (added position, tf)

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[str], generation: int = 0, *,
              docs: Sequence[str] | None = None, stamps: Mapping[str, str] | None = None) -> LexicalIndex:
        import bm25s

        if len(texts) != len(ids) or (docs is not None and len(docs) != len(ids)):
            raise ValueError("texts, ids and docs differ in length")
        retriever = bm25s.BM25(k1=K1, b=B)
        tokens = [tokenize(t) or ["\u2205"] for t in texts]
        if texts:
            retriever.index(tokens, show_progress=False)
        avgdl = sum(map(len, tokens)) / len(tokens) if tokens else 1.0
        return cls(retriever, list(ids), generation, docs=list(docs) if docs is not None else None,
                   stamps=stamps, avgdl=avgdl)

    @property
    def ids(self) -> list[str]:
        base = self._base_ids if not self._gone else [c for i, c in enumerate(self._base_ids) if i not in self._gone]
        return base + [a.chunk_id for a in self._added]

    def __len__(self) -> int:
        return len(self._base_ids) - len(self._gone) + len(self._added)

    @property
    def overlay_size(self) -> int:
        return len(self._gone) + len(self._added)

    def can_change(self) -> bool:
        """Whether :meth:`with_changes` applies (the index knows its documents' stamps)."""
        return self.stamps is not None and self._base_docs is not None and self.avgdl is not None

    def with_changes(self, changed: Collection[str], chunks: Sequence[tuple[str, str, str]],
                     stamps: Mapping[str, str], generation: int) -> LexicalIndex | None:
        """This index with the documents ``changed`` (new, rewritten or gone) replaced by
        ``chunks`` (chunk id, doc id, text: every current chunk of those documents); ``None`` when
        the overlay would pass :data:`OVERLAY_MAX` or the index cannot change in place."""
        if not self.can_change():
            return None
        assert self._base_docs is not None
        changed = set(changed)
        gone = self._gone | {i for i, d in enumerate(self._base_docs) if d in changed}
        kept = [a for a in self._added if a.doc_id not in changed]
        for cid, doc, text in chunks:
            toks = tokenize(text) or ["\u2205"]
            kept.append(_Added(cid, doc, text, Counter(toks), len(toks)))
        limit = max(OVERLAY_MAX[0], OVERLAY_MAX[1] * len(self._base_ids))
        if len(gone) + len(kept) > limit:
            return None
        new = LexicalIndex(self._bm25, self._base_ids, generation, docs=self._base_docs, stamps=stamps,
                           avgdl=self.avgdl)
        new._gone, new._added = frozenset(gone), tuple(kept)
        for pos, a in enumerate(new._added):
            for tok, tf in a.counts.items():
                new._postings.setdefault(tok, []).append((pos, tf))
        return new

    def _base_df(self, token: str) -> int:
        tid = self._bm25.vocab_dict.get(token)  # type: ignore[attr-defined]
        if tid is None:
            return 0
        indptr = self._bm25.scores["indptr"]  # type: ignore[attr-defined]
        return int(indptr[tid + 1] - indptr[tid])

    def df(self, token: str) -> int:
        """How many chunks hold ``token`` (the base's count, plus the overlay's)."""
        return self._base_df(token) + len(self._postings.get(token, ()))

    def coverage(self, query: str, text: str) -> float:
        """The share of the query's distinct tokens, each weighted by its IDF here, that ``text``
        holds: 1.0 when a passage repeats the question's words, near 0 when it shares only common
        ones (a colloquial question about a statute).

        >>> idx = LexicalIndex.build(["产假九十八天", "病假工资"], ["a", "b"])
        >>> idx.coverage("产假几天", "产假九十八天") > idx.coverage("产假几天", "病假工资")
        True
        """
        tokens = list(dict.fromkeys(tokenize(query)))
        if not tokens:
            return 0.0
        n = len(self)
        held = set(tokenize(text))
        weights = [math.log((n + 1) / (self.df(t) + 1)) + 1.0 for t in tokens]
        return sum(w for t, w in zip(tokens, weights, strict=True) if t in held) / sum(weights)

    def _overlay_scores(self, tokens: Sequence[str]) -> dict[int, float]:
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer  # the formulas the base was built with

        idf_of, tfc_of = _select_idf_scorer("lucene"), _select_tfc_scorer("lucene")
        n_docs = len(self)
        assert self.avgdl is not None
        scores: dict[int, float] = {}
        for tok in tokens:
            post = self._postings.get(tok)
            if not post:
                continue
            idf = idf_of(self._base_df(tok) + len(post), N=n_docs)
            for pos, tf in post:
                tfc = tfc_of(tf, l_d=self._added[pos].length, l_avg=self.avgdl, k1=K1, b=B)
                scores[pos] = scores.get(pos, 0.0) + float(idf * tfc)
        return scores

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            raise ValueError("k must be positive")
        tokens = tokenize(query)
        hits: list[tuple[str, float]] = []
        if self._base_ids and len(self._gone) < len(self._base_ids):
            vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
            known = [t for t in tokens if t in vocab]
            if known:
                scores = np.asarray(self._bm25.get_scores(known), dtype=np.float64)  # type: ignore[attr-defined]
                if self._gone:
                    scores[list(self._gone)] = 0.0
                kk = min(k, len(scores))
                top = np.argpartition(-scores, kk - 1)[:kk]
                hits = [(self._base_ids[i], float(scores[i])) for i in top if scores[i] > 0]
        if self._added:
            hits += [(self._added[pos].chunk_id, s) for pos, s in self._overlay_scores(tokens).items() if s > 0]
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def save(self, directory: Path) -> None:
        tmp = directory.with_name(directory.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        if self._base_ids:
            self._bm25.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
        (tmp / "ids.json").write_text(json.dumps({
            "generation": self.generation, "ids": self._base_ids, "docs": self._base_docs, "stamps": self.stamps,
            "avgdl": self.avgdl, "gone": sorted(self._gone),
            "added": [[a.chunk_id, a.doc_id, a.text] for a in self._added]}, ensure_ascii=False))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, or ``None`` when there is none (or it is unreadable)."""
        import bm25s

        try:
            info = json.loads((directory / "ids.json").read_text())
            retriever = bm25s.BM25.load(str(directory)) if info["ids"] else bm25s.BM25(k1=K1, b=B)
            idx = cls(retriever, list(info["ids"]), int(info.get("generation", 0)), docs=info.get("docs"),
                      stamps=info.get("stamps"), avgdl=info.get("avgdl"))
            if info.get("added") or info.get("gone"):
                base = cls(retriever, idx._base_ids, idx.generation, docs=idx._base_docs, avgdl=idx.avgdl, stamps={})
                base._gone = frozenset(int(i) for i in info.get("gone", []))
                grown = base.with_changes((), [tuple(a) for a in info.get("added", [])], info.get("stamps") or {},
                                          idx.generation)
                if grown is None:
                    raise ValueError("saved overlay too large")
                idx = grown
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("no usable lexical index in %s (%s)", directory, exc)
            return None
        return idx
