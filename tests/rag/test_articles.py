"""A statute is answered in whole articles (第…条), read on into the next passage where the chunk
size cut one, and refused against the articles' own threshold (app/rag/rules/articles.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.rag.articles import article_holding, article_rules
from tests.conftest import assistant_over

ROOT = Path(__file__).resolve().parents[2]
LAW = ROOT / "eval" / "train_laws" / "docs" / "legal-aid.md"  # 中华人民共和国法律援助法 (PRC law text, not under copyright)

PASSAGE = ("第四十七条受援人应当如实陈述与法律援助事项有关的情况。\n"
           "第四十八条有下列情形之一的，法律援助机构应当作出终止法律援助的决定：\n"
           "（一）受援人以欺骗或者其他不正当手段获得法律援助；")
NEXT = ("（二）受援人故意隐瞒与案件有关的重要事实或者提供虚假证据；\n"
        "法律援助人员发现有前款规定情形的，应当及时向法律援助机构报告。\n"
        "第四十九条申请人、受援人对决定有异议的，可以向司法行政部门提出。")


class TestArticleHolding:
    def test_the_article_of_a_sentence_with_its_items(self) -> None:
        art = article_holding(PASSAGE, "（一）受援人以欺骗或者其他不正当手段获得法律援助；")
        assert art == ("第四十八条有下列情形之一的，法律援助机构应当作出终止法律援助的决定："
                       "（一）受援人以欺骗或者其他不正当手段获得法律援助；")
        assert article_holding(PASSAGE, "第四十七条受援人应当如实陈述与法律援助事项有关的情况。") == (
            "第四十七条受援人应当如实陈述与法律援助事项有关的情况。")

    def test_the_last_article_goes_on_into_the_next_passage_up_to_the_next_article(self) -> None:
        art = article_holding(PASSAGE, "（一）受援人以欺骗或者其他不正当手段获得法律援助；", NEXT)
        assert art is not None
        assert art.startswith("第四十八条") and art.endswith("应当及时向法律援助机构报告。")
        assert "提供虚假证据" in art and "第四十九条" not in art
        # an article that is not the passage's last does not read on
        assert "第四十八条" not in (article_holding(PASSAGE, "第四十七条受援人应当如实陈述与法律援助事项有关的情况。", NEXT) or "")

    def test_the_chunk_overlap_is_not_read_twice(self) -> None:
        overlap = "（一）受援人以欺骗或者其他不正当手段获得法律援助；\n" + NEXT
        art = article_holding(PASSAGE, "（一）受援人以欺骗或者其他不正当手段获得法律援助；", overlap)
        assert art is not None and art.count("以欺骗或者其他不正当手段") == 1 and "提供虚假证据" in art

    def test_no_articles_no_article(self) -> None:
        assert article_holding("按规定，中级高达2000元。\n初级1000元。", "初级1000元。") is None
        # a guide's Markdown heading "## 第一条：……" is a heading, not a statute's article
        assert article_holding("## 第一条：先保证人身安全\n进门前先看清楚出口。", "进门前先看清楚出口。") is None
        # a sentence the passage does not hold
        assert article_holding(PASSAGE, "不在这里的一句话。") is None


@pytest.fixture(scope="module")
def law_assistant(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    return assistant_over(tmp_path_factory, embedder, "law", [LAW])


class TestStatuteAnswers:
    def test_a_list_article_cut_by_the_chunk_size_is_answered_whole(self, law_assistant) -> None:  # type: ignore[no-untyped-def]
        ans = law_assistant.chat("法律援助在什么情况下会被终止？")
        assert not ans.refused, ans.reason
        text = ans.answer
        # the lead-in line (once dropped by the splitter as a heading) and items from both chunks
        assert "法律援助机构应当作出终止法律援助的决定" in text
        assert "以欺骗或者其他不正当手段获得法律援助" in text and "自行委托律师" in text
        assert len(text) <= article_rules().answer_chars + 40  # markers and numbering
        # the line cites the passage the article starts in and the one it goes on in
        cited = [c.hit.text for c in ans.citations]
        assert any("作出终止法律援助的决定" in t for t in cited) and any("自行委托律师" in t for t in cited)
        # what the evaluator scores as retrieved is unchanged: the next passage is not added there
        assert len(ans.hits) <= 10

    def test_the_articles_threshold_holds_where_the_best_sentence_is_in_an_article(self, law_assistant) -> None:  # type: ignore[no-untyped-def]
        turn = law_assistant.prepare("法律援助在什么情况下会被终止？")
        assert turn.verdict.threshold == pytest.approx(article_rules().threshold)
        assert article_rules().threshold < law_assistant.threshold

    def test_a_question_the_law_does_not_answer_is_still_refused(self, law_assistant) -> None:  # type: ignore[no-untyped-def]
        ans = law_assistant.chat("法律援助律师每办一个案子能拿多少钱补贴？")
        assert ans.refused
