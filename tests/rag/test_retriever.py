"""Hybrid retrieval on the real knowledge base: dense + BM25, filters, dates, regions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.rag.fusion import FusionConfig, confidence, fuse, list_weights
from app.rag.regions import RegionTree
from app.rag.retriever import Filters


class TestSearch:
    @pytest.mark.parametrize(
        ("query", "doc_id"),
        [
            ("第一次上门走访独居老人要注意什么？", "guides/first-visit-elderly-living-alone"),
            ("居民问残疾人两项补贴怎么申请", "guides/disability-communication-and-subsidies"),
            ("浦东社工额度怎么配置", "policies/pudong-shegong-15"),
            ("社会化工会工作者按职工人数怎么配备", "policies/city-union-social-workers"),
            ("浦東社工額度怎麼配置？", "policies/pudong-shegong-15"),  # Traditional script
        ],
    )
    def test_finds_the_document(self, assistant, query: str, doc_id: str) -> None:  # type: ignore[no-untyped-def]
        hits = assistant.search(query, k=5)
        assert doc_id in [h.doc_id for h in hits[:3]], [h.doc_id for h in hits]
        top = hits[0]
        assert top.text and top.title and top.score > 0 and top.chunk_id

    def test_hits_carry_citation_fields(self, assistant) -> None:  # type: ignore[no-untyped-def]
        hit = assistant.search("宜川路街道中级社工证奖励", k=3)[0]
        d = hit.to_dict()
        for key in ("chunk_id", "doc_id", "title", "source", "issuer", "region", "published", "effective_to",
                    "heading", "text", "score"):
            assert key in d

    def test_at_most_max_per_doc_chunks_per_document(self, assistant) -> None:  # type: ignore[no-untyped-def]
        r = assistant.retriever
        assert r.config.max_per_doc == 6  # as many as the answer reads (a statute's 6 best articles)
        kept = r.config
        try:
            for cap in (2, 6):
                r.config = replace(kept, max_per_doc=cap)
                counts: dict[str, int] = {}
                for h in r.search("走访", k=20):
                    counts[h.doc_id] = counts.get(h.doc_id, 0) + 1
                assert max(counts.values()) <= cap, (cap, counts)
                if cap == 2:
                    assert max(counts.values()) == 2, counts  # the cap binds: "走访" is in most guides' chunks
        finally:
            r.config = kept

    def test_bad_k(self, assistant) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ValueError):
            assistant.retriever.search("走访", k=0)


class TestFilters:
    def test_doc_type(self, assistant) -> None:  # type: ignore[no-untyped-def]
        hits = assistant.search("走访独居老人", k=10, filters=Filters(doc_type=["案例"]))
        assert hits and {h.doc_type for h in hits} == {"案例"}

    def test_issuer(self, assistant) -> None:  # type: ignore[no-untyped-def]
        hits = assistant.search("奖励", k=10, filters=Filters(issuer="普陀区宜川路街道"))
        assert hits and {h.issuer for h in hits} == {"普陀区宜川路街道"}

    def test_in_force_on_a_date(self, assistant) -> None:  # type: ignore[no-untyped-def]
        old = assistant.search("值班补贴标准", k=5, filters=Filters(in_force_on="2023-06-01"))
        new = assistant.search("值班补贴标准", k=5, filters=Filters(in_force_on="2026-06-01"))
        assert old[0].doc_id == "other/demo-duty-allowance-2021"
        assert new[0].doc_id == "other/demo-duty-allowance-2026"
        assert "other/demo-duty-allowance-2021" not in [h.doc_id for h in new]


class TestRegions:
    def test_lineage(self) -> None:
        tree = RegionTree({"全国": {"上海市": {"普陀区": {"宜川路街道": {}}, "浦东新区": {}}}})
        assert tree.lineage("宜川路街道") == {"宜川路街道", "普陀区", "上海市", "全国"}
        assert tree.path("浦东新区") == ["全国", "上海市", "浦东新区"]

    def test_preferred_region_ranks_first_without_hiding_others(self, assistant) -> None:  # type: ignore[no-untyped-def]
        q = "社工职业发展和晋升有哪些激励"
        plain = assistant.search(q, k=10)
        pudong = assistant.search(q, k=10, prefer_region="陆家嘴街道")
        putuo = assistant.search(q, k=10, prefer_region="宜川路街道")
        assert plain[0].region == "未注明"  # without a preference, the best match leads
        assert pudong[0].doc_id == "policies/pudong-shegong-15"  # a Lujiazui worker sees Pudong's rule first
        assert putuo[0].doc_id == "policies/putuo-collective-contract"  # a Yichuan Road worker sees theirs
        assert "未注明" in {h.region for h in pudong} and "上海市" in {h.region for h in putuo}  # others stay


class TestFusion:
    def test_confidence_is_scale_free(self) -> None:
        a = confidence([10, 2, 2, 2, 2], 5)
        b = confidence([1.0, 0.2, 0.2, 0.2, 0.2], 5)
        assert a == pytest.approx(b) and a > 1
        assert confidence([5, 5, 5, 5], 4) == pytest.approx(0.0)

    def test_the_confident_list_gets_more_weight(self) -> None:
        dense = [("a", 0.80), ("b", 0.80), ("c", 0.80), ("d", 0.80)]
        lexical = [("x", 30.0), ("a", 5.0), ("b", 4.9), ("c", 4.8)]
        equal = {"dense": 1.0, "lexical": 1.0}
        w = list_weights({"dense": dense, "lexical": lexical}, FusionConfig(gate=1.0, weights=equal))
        assert w["lexical"] > 2 * w["dense"]
        flat = list_weights({"dense": dense, "lexical": lexical}, FusionConfig(gate=0.0, weights=equal))
        assert flat["lexical"] == flat["dense"]
        # an item both lists hold beats one that only the confident list holds, at equal weights
        assert fuse({"dense": dense, "lexical": lexical}, FusionConfig(gate=0.0, weights=equal, rrf_k=60))[0][0] == "a"
        # without a measured coverage the default weighs BM25 twice (tuned)
        assert list_weights({"dense": dense, "lexical": lexical}, FusionConfig()) == {"dense": 1.0, "lexical": 2.0}

    def test_the_lexical_weight_follows_its_query_coverage(self) -> None:
        dense = [("a", 0.80), ("b", 0.79)]
        lexical = [("b", 9.0), ("a", 8.0)]
        cfg = FusionConfig()
        at0, at1 = cfg.coverage_weights["lexical"]
        assert at0 < cfg.weights["dense"] < at1
        low = list_weights({"dense": dense, "lexical": lexical}, cfg, coverage={"lexical": 0.0})
        high = list_weights({"dense": dense, "lexical": lexical}, cfg, coverage={"lexical": 1.0})
        assert low["lexical"] == pytest.approx(at0) and high["lexical"] == pytest.approx(at1)
        assert list_weights({"dense": dense, "lexical": lexical}, cfg, coverage={"lexical": 7.0}) == high  # clamped
        # a paraphrase (BM25's best passage shares little of the question) follows the embeddings,
        # a question in the document's own words follows BM25
        assert fuse({"dense": dense, "lexical": lexical}, cfg, coverage={"lexical": 0.1})[0][0] == "a"
        assert fuse({"dense": dense, "lexical": lexical}, cfg, coverage={"lexical": 0.9})[0][0] == "b"

    def test_coverage_weighs_rare_tokens_more(self) -> None:
        from app.core.lexical import LexicalIndex

        idx = LexicalIndex.build(["产假九十八天。", "病假按规定。", "婚假三天。", "假期安排。"], ["a", "b", "c", "d"])
        assert idx.coverage("产假几天", "产假九十八天。") > 0.4
        assert idx.coverage("产假几天", "婚假三天。") < idx.coverage("产假几天", "产假九十八天。")
        assert idx.coverage("产假", "产假") == pytest.approx(1.0) and idx.coverage("", "产假") == 0.0
        assert idx.df("假") == 4 and idx.df("产假") == 1
