"""The select stage: the model file, the features it reads, the sentence vectors it is given,
and how scored sentences become an answer. The shipped model's behaviour on real questions is in
tests/rag/test_assistant.py and the quality gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.types import Hit
from app.rag.features import candidates, feature_names, features
from app.rag.pipeline.answer import ComposeConfig, compose
from app.rag.pipeline.select import MODEL_PATH, Scored, SelectorModel, SentenceVectors
from app.rag.terms import analyse


def hit(text: str, title: str = "指南", score: float = 1.0, dense: float | None = 0.9) -> Hit:
    return Hit("c", "d", title, "", "", "", None, None, None, None, "手册", "", text, score, dense=dense)


def spec(weights: list[float], **extra: object) -> dict[str, object]:
    n = len(feature_names())
    return {"features": feature_names(), "mean": [0.0] * n, "scale": [1.0] * n,
            "layers": [{"W": [[w] for w in weights], "b": [0.0]}], "threshold": 0.5, **extra}


class TestModel:
    def test_the_shipped_model_matches_the_code(self) -> None:
        data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
        model = SelectorModel(data)
        assert 0.0 < model.threshold < 1.0
        assert data["trained_on"]["sets"][:2] == ["cmrc2018", "drcd"]  # CC BY-SA sets only, and our own
        assert model.proba(np.zeros((0, len(feature_names())), dtype=np.float32)).shape == (0,)

    def test_a_model_for_other_features_is_refused(self) -> None:
        bad = spec([0.0] * len(feature_names()))
        bad["features"] = [*feature_names()[:-1], "something_else"]
        with pytest.raises(ValueError, match="features differ"):
            SelectorModel(bad)

    def test_probability_follows_the_logit_through_the_calibration(self) -> None:
        w = [0.0] * len(feature_names())
        w[feature_names().index("cos")] = 4.0
        model = SelectorModel(spec(w, calibration={"a": 2.0, "b": -1.0}))
        x = np.zeros((2, len(w)), dtype=np.float32)
        x[0, feature_names().index("cos")], x[1, feature_names().index("cos")] = 0.9, 0.2
        p = model.proba(x)
        assert p[0] > p[1]
        assert p[0] == pytest.approx(1 / (1 + np.exp(-(2.0 * 3.6 - 1.0))), rel=1e-5)


class TestFeatures:
    def test_one_row_per_sentence_and_a_column_per_name(self) -> None:
        hits = [hit("中级证书奖励2000元。初级证书另有规定。"), hit("集体合同于4月28日表决通过。", score=0.5)]
        cands = candidates(hits, 6)
        vecs = np.eye(len(cands), 8, dtype=np.float32)
        q = np.zeros(8, dtype=np.float32)
        q[0] = 1.0
        x = features(analyse("中级证书奖励多少钱？"), q, hits, cands, vecs, lambda _: 1.0)
        names = feature_names()
        assert x.shape == (3, len(names))
        col = {n: i for i, n in enumerate(names)}
        assert x[0, col["cos"]] == pytest.approx(1.0) and x[0, col["cos_gap"]] == 0.0
        assert x[0, col["lex"]] > x[2, col["lex"]]  # 中级证书奖励 stands in the first sentence, not the third
        assert x[2, col["rank_inv"]] == pytest.approx(0.5) and x[2, col["fused_rel"]] == pytest.approx(0.5)


class TestCompose:
    def s(self, i: int, p: float, text: str) -> Scored:
        return Scored(i, 0, text, p)

    def test_the_best_sentence_and_those_close_to_it_in_reading_order(self) -> None:
        scored = [self.s(1, 0.9, "乙。"), self.s(0, 0.6, "甲。"), self.s(2, 0.3, "丙。")]
        draft = compose(scored, analyse("奖励多少钱？"), 0.2, ComposeConfig(keep=0.5))
        assert draft.text == "1. 甲。[1]\n2. 乙。[2]"

    def test_below_the_refusal_threshold_nothing_is_added(self) -> None:
        scored = [self.s(0, 0.9, "甲。"), self.s(1, 0.5, "乙。")]
        assert compose(scored, analyse("奖励多少钱？"), 0.6, ComposeConfig(keep=0.1)).text == "甲。[1]"

    def test_lists_take_more_lines(self) -> None:
        scored = [self.s(0, 0.9 - i / 100, f"第{i}项。") for i in range(8)]
        assert len(compose(scored, analyse("有哪些材料？"), 0.1, ComposeConfig()).sentences) == 6
        assert len(compose(scored, analyse("是什么时候？"), 0.1, ComposeConfig()).sentences) == 3


def test_sentence_vectors_come_from_the_ingest_cache(ingestor) -> None:  # type: ignore[no-untyped-def]
    from app.core.sentences import sentences_of

    path = ingestor.settings.data_dir.parent / "note.md"
    path.write_text("# 说明\n\n中级证书奖励2000元。初级证书奖励另行公布。\n", encoding="utf-8")
    ingestor.ingest([path])
    vectors = SentenceVectors(ingestor.manifest, ingestor.embedder)
    texts = sentences_of("中级证书奖励2000元。初级证书奖励另行公布。")
    from app.core.manifest import embed_key

    keys = [embed_key(ingestor.embedder.model_id, t) for t in texts]
    assert set(ingestor.manifest.cached_vectors(keys)) == set(keys)  # embedded at ingest
    got = vectors.get(texts)
    assert got.shape == (2, ingestor.embedder.dim)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)
    fresh = vectors.get(["一句从没导入过的话。"])  # embedded now, kept in memory, not written
    assert fresh.shape == (1, ingestor.embedder.dim)
    assert not ingestor.manifest.cached_vectors([embed_key(ingestor.embedder.model_id, "一句从没导入过的话。")])


def test_an_ingest_may_leave_sentence_vectors_to_the_first_question(ingestor) -> None:  # type: ignore[no-untyped-def]
    """Training corpora are ingested without sentence vectors (only retrieved passages are ever
    scored); the next ordinary ingest fills them in, since the store carries no sentence stamp."""
    from app.core.manifest import embed_key
    from app.core.sentences import sentences_of

    path = ingestor.settings.data_dir.parent / "note.md"
    path.write_text("# 说明\n\n中级证书奖励2000元。初级证书奖励另行公布。\n", encoding="utf-8")
    keys = [embed_key(ingestor.embedder.model_id, t) for t in sentences_of("中级证书奖励2000元。初级证书奖励另行公布。")]
    ingestor.sentence_vectors = False
    report = ingestor.ingest([path])
    assert report.added == 1 and ingestor.manifest.chunks()
    assert not ingestor.manifest.cached_vectors(keys)
    assert ingestor.manifest.get_meta("sentence_vectors") is None
    ingestor.sentence_vectors = True
    other = path.with_name("other.md")
    other.write_text("# 其他\n\n走访要带工作证。\n", encoding="utf-8")
    ingestor.ingest([path, other])
    assert set(ingestor.manifest.cached_vectors(keys)) == set(keys)  # backfilled with the next ingest
