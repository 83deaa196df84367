"""eval/bench/ on a tiny corpus: a real CLI ingest, real servers over HTTP, real Chroma and SQLite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.bench.config import EXTERNAL
from eval.bench.corpus import Corpus, build_reused, count_chunks, first_docs, pick_questions, settings_for, tiny_corpus
from eval.bench.latency import serve_latency
from eval.bench.table import server_rows
from eval.external import read_jsonl
from tests.support import require

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.external]

N_DOCS = 6


def _require_external() -> Path:
    return require(EXTERNAL / "cail2019_rc.docs.jsonl",
                   "the external QA sets sit beside the repo as ../shared/external")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    src = _require_external()
    tmp = tmp_path_factory.mktemp("bench")
    docs_file = first_docs(src, N_DOCS, tmp / "cail_first.jsonl")
    ids = {str(d["doc_id"]) for d in read_jsonl(docs_file)}
    questions = pick_questions(["cail2019_rc"], ids, 4)
    return tiny_corpus(docs_file, tmp / "tiny", questions)


def _manifest_chunks(data_dir: Path) -> int:
    from app.core.manifest import Manifest

    m = Manifest(data_dir / "manifest.sqlite3")
    try:
        return m.count_chunks()
    finally:
        m.close()


def _positive(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_corpus_chunk_count_is_what_the_plan_estimates(tiny: Corpus) -> None:
    settings = settings_for(tiny.data_dir)
    estimate = sum(count_chunks(d, settings.chunk_size, settings.chunk_overlap)
                   for d in read_jsonl(tiny.docs_file))
    assert tiny.docs == N_DOCS
    assert tiny.chunks == _manifest_chunks(tiny.data_dir) == estimate > 0


def test_server_latency_figures_are_real(tiny: Corpus) -> None:
    res = serve_latency(tiny.data_dir, tiny.questions, warmup=1)
    assert res["chunks"] == res["vectors"] == tiny.chunks == _manifest_chunks(tiny.data_dir)
    assert res["documents"] == N_DOCS
    for part in ("search", "chat"):
        figures = res[part]
        assert figures["n"] == len(tiny.questions)
        assert all(_positive(figures[k]) for k in ("p50_ms", "p95_ms", "mean_ms", "qps")), figures
        assert figures["p95_ms"] >= figures["p50_ms"]
    assert res["search"]["mean_hits"] > 0
    assert all(_positive(res[k]) for k in ("peak_rss_mb", "rss_ready_mb", "startup_s")), res
    rows = server_rows("tiny", tiny.name, res, None)
    assert [r["chunks"] for r in rows] == [tiny.chunks, tiny.chunks]
    json.dumps(rows, ensure_ascii=False)  # --json can print them


def test_reused_vectors_under_new_ids_make_a_servable_store(tiny: Corpus, tmp_path: Path) -> None:
    from app.core.lexical import LexicalIndex
    from app.core.manifest import Manifest

    dest = tmp_path / "reused" / "data"
    copies = 3
    built = build_reused(tiny.data_dir, dest, copies)
    assert built["source_chunks"] == tiny.chunks
    assert built["chunks"] == built["vectors"] == copies * tiny.chunks
    assert built["documents"] == copies * N_DOCS
    assert built["embedder_loaded"] is False  # every vector came from the cache

    m = Manifest(dest / "manifest.sqlite3")
    try:
        ids = m.chunk_ids()
        docs = [d.doc_id for d in m.documents()]
    finally:
        m.close()
    assert len(ids) == copies * tiny.chunks
    assert all(d.rsplit("-copy", 1)[-1] in {"1", "2", "3"} for d in docs)
    src = Manifest(tiny.data_dir / "manifest.sqlite3")
    try:
        assert not ids & src.chunk_ids()  # new chunk ids, not the source's
    finally:
        src.close()
    lexical = LexicalIndex.load(dest / "lexical")
    assert lexical is not None and set(lexical.ids) == ids

    with pytest.raises(ValueError, match="not empty"):
        build_reused(tiny.data_dir, dest, 1)

    res = serve_latency(dest, tiny.questions[:2], chat=False, warmup=0)
    assert res["chunks"] == res["vectors"] == copies * tiny.chunks  # the server's own count of both
    assert res["search"]["mean_hits"] > 0 and _positive(res["search"]["p50_ms"])
    assert res["sample_doc_ids"] and all("-copy" in d for d in res["sample_doc_ids"])
    assert "chat" not in res
