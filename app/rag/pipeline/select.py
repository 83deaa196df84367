"""Select: the learned answer selector scores every sentence of the retrieved passages.

The model (``app/rag/models/selector.json``, trained by ``eval/train_selector/``, described in
``app/rag/models/SELECTOR_CARD.md``) gives each (question, sentence in its passage) a calibrated
probability that the sentence answers the question. The best of those is also the answerability
score that the assess stage compares with one threshold. Sentence vectors are computed at ingest
and cached in the manifest by content hash, so a question embeds only itself.

>>> sel = SentenceSelector(SelectorModel.load(), SentenceVectors(manifest, embedder), retriever.idf)  # doctest: +SKIP
>>> best = sel.score(terms, qvec, hits)[0]                                                         # doctest: +SKIP
>>> best.text, round(best.p, 2)                                                                    # doctest: +SKIP
('按规定，中级高达2000元。', 0.93)
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.embedder import Embedder
from app.core.manifest import Manifest, embed_key
from app.core.sentences import in_context
from app.core.types import Hit
from app.rag.answerer import IdfFn
from app.rag.asked import AskedType, asked_types, holds, rules
from app.rag.features import Candidate, candidates, feature_names, features
from app.rag.terms import QuestionTerms

MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "selector.json"


@dataclass
class Scored:
    hit_index: int
    position: int
    text: str
    p: float  # calibrated probability that this sentence answers the question


class SelectorModel:
    """A small feed-forward scorer (logistic regression when it has no hidden layer), read from
    JSON: standardisation, layers, and a Platt calibration of the final logit."""

    def __init__(self, spec: dict[str, Any]) -> None:
        names = list(spec["features"])
        if names != feature_names():
            missing = sorted(set(feature_names()) ^ set(names))
            raise ValueError(f"selector model features differ from the code's: {missing[:6]}")
        self.spec = spec
        self.mean = np.asarray(spec["mean"], dtype=np.float32)
        self.scale = np.asarray(spec["scale"], dtype=np.float32)
        self.layers = [(np.asarray(layer["W"], dtype=np.float32), np.asarray(layer["b"], dtype=np.float32))
                       for layer in spec["layers"]]
        cal = spec.get("calibration", {"a": 1.0, "b": 0.0})
        self.cal_a, self.cal_b = float(cal["a"]), float(cal["b"])
        self.threshold = float(spec["threshold"])
        self.compose = dict(spec.get("compose", {}))

    @classmethod
    def load(cls, path: Path | None = None) -> SelectorModel:
        return cls(json.loads((path or MODEL_PATH).read_text(encoding="utf-8")))

    def logit(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def proba(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        z = self.cal_a * self.logit(x) + self.cal_b
        return 1.0 / (1.0 + np.exp(-z))


class SentenceVectors:
    """Unit passage vectors of sentences, by content hash: from the manifest's embedding cache
    (filled at ingest), else embedded now and kept in a bounded memory cache."""

    def __init__(self, manifest: Manifest, embedder: Embedder, memory: int = 20_000, *, persist: bool = False) -> None:
        self.manifest = manifest
        self.embedder = embedder
        self.memory = memory
        self.persist = persist  # also write new vectors to the manifest's cache (training; never while serving)
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        model = self.embedder.model_id
        keys = [embed_key(model, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for k in keys:
                if k in self._mem:
                    found[k] = self._mem[k]
                    self._mem.move_to_end(k)
        rest = [k for k in dict.fromkeys(keys) if k not in found]
        if rest:
            found.update(self.manifest.cached_vectors(rest))
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        if todo:
            fresh = self.embedder.embed_passages(todo)
            new = {embed_key(model, t): v for t, v in zip(todo, fresh, strict=True)}
            if self.persist:
                self.manifest.cache_vectors(new.items())
            found.update(new)
        with self._lock:
            for k in keys:
                self._mem[k] = found[k]
            while len(self._mem) > self.memory:
                self._mem.popitem(last=False)
        return np.stack([found[k] for k in keys]).astype(np.float32)


class SentenceSelector:
    """Scores the sentences of the first ``max_passages`` hits with the model (``model=None``:
    features only, for collecting training data)."""

    def __init__(
        self, model: SelectorModel | None, vectors: SentenceVectors, idf: IdfFn, *, max_passages: int = 6
    ) -> None:
        if max_passages <= 0:
            raise ValueError("max_passages must be positive")
        self.model = model
        self.vectors = vectors
        self.idf = idf
        self.max_passages = max_passages

    def featurise(self, terms: QuestionTerms, qvec: np.ndarray, hits: Sequence[Hit]) -> tuple[list[Candidate], np.ndarray]:
        cands = candidates(hits, self.max_passages)
        texts = [c.text for c in cands]
        texts += [in_context(hits[c.hit_index].title, hits[c.hit_index].heading, c.text) for c in cands]
        vecs = self.vectors.get(texts)
        return cands, features(terms, qvec, hits, cands, vecs[: len(cands)], self.idf, vecs[len(cands):])

    def score(self, terms: QuestionTerms, qvec: np.ndarray, hits: Sequence[Hit]) -> list[Scored]:
        """Candidates, best first."""
        if self.model is None:
            raise RuntimeError("no selector model loaded")
        cands, x = self.featurise(terms, qvec, hits)
        p = self.model.proba(x)
        out = [Scored(c.hit_index, c.position, c.text, float(pi)) for c, pi in zip(cands, p, strict=True)]
        out.sort(key=lambda s: -s.p)
        return out


def keep_asked(question: str, scored: Sequence[Scored]) -> tuple[list[Scored], list[AskedType]]:
    """Where the question asks for a number, an amount or the papers to bring (``rules/asked.yaml``): of
    the ``top`` best sentences, those that hold it, best first; otherwise every sentence. Also the
    types asked (empty when the question asks for none of them)."""
    asked = asked_types(question)
    if not asked:
        return list(scored), []
    top = rules()[0]
    return [s for s in scored[:top] if holds(asked, s.text)], asked
