"""The manifest on SQLite and on PostgreSQL (``records_url`` gives each test a fresh database)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from app.core.database import current
from app.core.manifest import MANIFEST, DocRecord, Manifest, embed_key
from app.core.types import Chunk, DocMeta


@pytest.fixture
def manifest(records_url: str) -> Iterator[Manifest]:
    m = Manifest(records_url)
    yield m
    m.close()


def _doc(doc_id: str, n: int, title: str = "示例文件") -> tuple[DocRecord, list[Chunk]]:
    meta = DocMeta(title=title, doc_type="手册", region="宜川路街道")
    rec = DocRecord(doc_id, f"/src/{doc_id}.md", "/src", "fp-" + doc_id, 1, meta, n, {"whitespace": 2}, 0,
                    "2026-12-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    chunks = [Chunk(f"{doc_id}#{i}", doc_id, i, f"第{i}段：走访后3个工作日内登记。", f"第{i}节", title, meta, i * 10)
              for i in range(n)]
    return rec, chunks


def test_documents_chunks_and_generation(manifest: Manifest) -> None:
    assert current(manifest.engine, MANIFEST) == "m0001" and manifest.generation == 0
    rec, chunks = _doc("guides/a", 3)
    manifest.put_document(rec, "全文", chunks)
    manifest.put_document(*_doc("guides/b", 2)[:1], "全文b", _doc("guides/b", 2)[1])
    assert manifest.generation == 2
    got = manifest.document("guides/a", with_text=True)
    assert got is not None and got.text == "全文" and got.meta.region == "宜川路街道" and got.cleaned == {"whitespace": 2}
    assert [d.doc_id for d in manifest.documents()] == ["guides/a", "guides/b"]
    assert manifest.chunk_ids_of("guides/a") == ["guides/a#0", "guides/a#1", "guides/a#2"]
    assert {c.chunk_id for c in manifest.chunks(["guides/b#1", "guides/a#0"])} == {"guides/a#0", "guides/b#1"}
    assert [c.chunk_id for c in manifest.chunks()][:2] == ["guides/a#0", "guides/a#1"]  # in document order
    assert manifest.count_chunks() == 5 and manifest.doc_ids_from_root("/src") == {"guides/a", "guides/b"}
    # a new version replaces exactly its chunks
    rec2, fewer = _doc("guides/a", 1)
    manifest.put_document(rec2, "新全文", fewer)
    assert manifest.chunk_ids_of("guides/a") == ["guides/a#0"] and manifest.generation == 3
    assert manifest.delete_document("guides/a") and not manifest.delete_document("guides/a")
    assert manifest.chunk_ids() == {"guides/b#0", "guides/b#1"} and manifest.generation == 4


def test_curation_and_meta(manifest: Manifest) -> None:
    manifest.set_meta("embed_model", "m1")
    manifest.set_meta("embed_model", "m2")
    assert manifest.get_meta("embed_model") == "m2" and manifest.get_meta("nope", "d") == "d"
    manifest.set_curation("guides/a", by="trainer", meta={"issuer": "街道"})
    manifest.set_curation("guides/a", by="trainer", deleted=True)
    c = manifest.curation("guides/a")
    assert c is not None and c.meta == {"issuer": "街道"} and c.deleted and c.pinned_source is None
    assert [x.doc_id for x in manifest.curations()] == ["guides/a"]
    manifest.delete_curation("guides/a")
    assert manifest.curation("guides/a") is None


def test_vector_cache_round_trip(manifest: Manifest) -> None:
    rng = np.random.default_rng(0)
    vecs = {embed_key("m", f"句子{i}"): rng.standard_normal(8).astype(np.float32) for i in range(1200)}
    manifest.cache_vectors(vecs.items())
    manifest.cache_vectors([(next(iter(vecs)), np.ones(8, dtype=np.float32))])  # a key cached again is replaced
    got = manifest.cached_vectors([*vecs, "missing"])
    assert set(got) == set(vecs) and np.array_equal(got[next(iter(vecs))], np.ones(8, dtype=np.float32))
    k = list(vecs)[7]
    assert np.array_equal(got[k], vecs[k])
    batches = list(manifest.all_cached_vectors(batch=500))
    assert [len(b) for b in batches] == [500, 500, 200] and len({k for b in batches for k, _ in b}) == 1200
