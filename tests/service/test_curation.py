"""Curation decisions outlive a re-ingest of the source folders (real Chroma, real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import NotFoundError, ValidationError
from app.core.settings import Settings
from app.service.curation import Curator, safe_filename
from app.service.db import ServiceDB
from app.service.factory import build_ingestor
from app.service.records import AuditLog

GUIDE = """---
title: 测试走访指南
doc_type: 手册
region: 普陀区
---
# 测试走访指南

第一次走访应两人同行，并提前与楼组长联系。示例内容，不是规定。
"""


@pytest.fixture
def kb(tmp_path: Path, embedder) -> tuple[Settings, Path, Curator]:  # type: ignore[no-untyped-def]
    src = tmp_path / "kb"
    (src / "guides").mkdir(parents=True)
    (src / "guides" / "visit.md").write_text(GUIDE, encoding="utf-8")
    (src / "guides" / "other.md").write_text(GUIDE.replace("测试走访指南", "另一份指南").replace("两人同行", "带好证件"),
                                             encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=Path("knowledge"))
    ing = build_ingestor(settings, embedder)
    assert not ing.ingest([src]).failed
    db = ServiceDB(settings.service_db_path)
    return settings, src, Curator(settings, ing, db, AuditLog(db))


class TestCurationSurvivesReingest:
    def test_deleted_document_is_not_brought_back(self, kb: tuple[Settings, Path, Curator]) -> None:
        _, src, cur = kb
        cur.delete("guides/visit.md", by="li")
        report = cur.ingestor.ingest([src])
        assert report.skipped == 1 and report.added == 0
        skipped = next(f for f in report.files if f.status == "skipped")
        assert skipped.doc_id == "guides/visit.md" and "删除" in (skipped.error or "")
        assert cur.manifest.document("guides/visit.md") is None
        assert not cur.ingestor.store.ids_of_doc("guides/visit.md")

    def test_metadata_edit_is_kept(self, kb: tuple[Settings, Path, Curator]) -> None:
        _, src, cur = kb
        out = cur.edit("guides/visit.md", {"region": "宜川路街道", "issuer": "宜川路街道办事处"}, by="li")
        assert out["status"] == "updated"
        cur.ingestor.ingest([src])  # the folder says 普陀区; the trainer's edit wins
        meta = cur.manifest.document("guides/visit.md").meta  # type: ignore[union-attr]
        assert meta.region == "宜川路街道" and meta.issuer == "宜川路街道办事处"
        chunk = next(cur.manifest.chunks(cur.manifest.chunk_ids_of("guides/visit.md")))
        assert chunk.meta.region == "宜川路街道"

    def test_replacement_is_pinned_and_restorable(self, kb: tuple[Settings, Path, Curator]) -> None:
        settings, src, cur = kb
        new = GUIDE.replace("两人同行", "三人同行")
        cur.replace("guides/visit.md", "visit-v2.md", new.encode(), by="li")
        report = cur.ingestor.ingest([src])  # the old file in the folder must not win back
        assert report.skipped == 1
        text = "".join(c.text for c in cur.manifest.chunks(cur.manifest.chunk_ids_of("guides/visit.md")))
        assert "三人同行" in text and "两人同行" not in text
        [version] = cur.versions("guides/visit.md")
        cur.restore(version["id"], by="li")
        text = "".join(c.text for c in cur.manifest.chunks(cur.manifest.chunk_ids_of("guides/visit.md")))
        assert "两人同行" in text
        assert [e["action"] for e in cur.audit.entries()] == ["restore", "replace"]
        assert (settings.library_dir / "versions").is_dir()

    def test_failures_change_nothing(self, kb: tuple[Settings, Path, Curator]) -> None:
        _, _, cur = kb
        before = cur.manifest.document("guides/visit.md")
        out = cur.replace("guides/visit.md", "broken.pdf", b"%PDF-1.4 garbage", by="li")
        assert out["status"] == "failed" and out["error"]
        after = cur.manifest.document("guides/visit.md")
        assert after is not None and before is not None and after.fingerprint == before.fingerprint
        assert cur.manifest.curation("guides/visit.md") is None
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            cur.edit("guides/visit.md", {"effective_to": "2026-02-30"}, by="li")
        with pytest.raises(ValidationError, match="不能修改"):
            cur.edit("guides/visit.md", {"doc_id": "x"}, by="li")
        with pytest.raises(NotFoundError):
            cur.delete("guides/nope.md", by="li")

    def test_upload_names_cannot_escape_the_library(self) -> None:
        assert safe_filename("../../etc/passwd") == "passwd"
        assert safe_filename("..\\..\\x.md") == "x.md"
        assert safe_filename("走访 指南(1).md") == "走访_指南(1).md"
        with pytest.raises(ValidationError):
            safe_filename("..")

