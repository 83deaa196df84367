"""The optional cross-encoder stage: real loading code, and the retriever re-ordering by it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.errors import ModelFileError
from app.core.settings import Settings
from app.rag.reranker import CrossEncoderReranker
from app.service.factory import build_retriever
from tests.support import minilm_dir


class KeywordReranker:
    """Deterministic FAKE reranker for tests: scores a passage by how often it holds ``word``."""

    model_id = "fake/keyword"

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls = 0

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        self.calls += 1
        return [float(p.count(self.word)) for p in passages]


class TestCrossEncoderReranker:
    def test_loads_a_local_directory_offline(self) -> None:
        r = CrossEncoderReranker(str(minilm_dir()))
        passages = ["Visit older people who live alone.", "The subsidy is paid monthly.", "Bring your ID card."]
        a = r.scores("what to bring on a visit", passages)
        b = r.scores("what to bring on a visit", passages)
        assert len(a) == 3 and all(math.isfinite(x) for x in a)
        assert a == b  # the same loaded model scores the same pairs the same way

    def test_bad_directory_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFileError, match=r"config\.json"):
            CrossEncoderReranker(str(tmp_path))


class TestRetrieverRerank:
    def test_candidates_are_reordered(self, kb_settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
        retriever = build_retriever(kb_settings, embedder)
        plain = retriever.search("社区工作者的奖励和补贴", 5)
        fake = KeywordReranker("2000元")
        retriever.reranker = fake
        reranked = retriever.search("社区工作者的奖励和补贴", 5)
        assert fake.calls == 1
        assert "2000元" in reranked[0].text
        assert [h.chunk_id for h in plain] != [h.chunk_id for h in reranked]
        assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
