"""A BM25 index over Chinese tokens, kept beside the vector store.

Tokens are single characters and character bigrams of Chinese runs plus lower-cased Latin words
and numbers (``2000元`` gives ``2000`` and ``元``), which needs no dictionary and handles names and
figures that a word segmenter splits badly. The index is derived from the manifest and saved with
the manifest generation it was built from, so it is rebuilt only when the manifest changed.

>>> idx = LexicalIndex.build(["社区工作者走访独居老人"], ["c1"])
>>> idx.search("独居老人", k=1)[0][0]
'c1'
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Sequence
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


class LexicalIndex:
    """BM25 (bm25s, Lucene variant) over :func:`tokenize` tokens."""

    def __init__(self, retriever: object, ids: list[str], generation: int = 0) -> None:
        self._bm25 = retriever
        self.ids = ids
        self.generation = generation

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[str], generation: int = 0) -> LexicalIndex:
        import bm25s

        if len(texts) != len(ids):
            raise ValueError("texts and ids differ in length")
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        if texts:
            retriever.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
        return cls(retriever, list(ids), generation)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            raise ValueError("k must be positive")
        if not self.ids:
            return []
        vocab = self._bm25.vocab_dict  # type: ignore[attr-defined]
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens))  # type: ignore[attr-defined]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, directory: Path) -> None:
        tmp = directory.with_name(directory.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        if self.ids:
            self._bm25.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
        (tmp / "ids.json").write_text(json.dumps({"generation": self.generation, "ids": self.ids}))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, or ``None`` when there is none (or it is unreadable)."""
        import bm25s

        try:
            info = json.loads((directory / "ids.json").read_text())
            retriever = bm25s.BM25.load(str(directory)) if info["ids"] else bm25s.BM25()
        except (OSError, ValueError, KeyError) as exc:
            log.info("no usable lexical index in %s (%s)", directory, exc)
            return None
        return cls(retriever, list(info["ids"]), int(info.get("generation", 0)))
