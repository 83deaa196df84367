"""Broad questions about a whole guide are answered with its outline, each part cited."""

from __future__ import annotations

from app.rag.outline import covers_title, sections
from app.rag.terms import analyse

GUIDE = """# 入户走访怎么准备

## 出门前

- 查台账，看上一次走访记录。

## 敲门和自我介绍

- 敲门后退后一步，主动亮证。

## 看什么

**居住安全**
- 燃气软管是否老化。

**身体状况**
- 最近一年是否跌倒过。

## 记录

- 回来当天补记台账。
"""


class TestSections:
    def test_summaries(self) -> None:
        parts = sections(GUIDE)
        assert [p.heading for p in parts] == ["出门前", "敲门和自我介绍", "看什么", "记录"]
        assert parts[2].summary == "居住安全、身体状况"  # bold sub-labels become a list
        assert parts[0].summary == "查台账，看上一次走访记录。"

    def test_broad_question_only(self) -> None:
        title = "第一次上门走访独居老人：安全检查清单与跟进频次"
        assert covers_title(analyse("第一次上门走访独居老人要注意什么？"), title)
        assert not covers_title(analyse("独居老人家的燃气软管要怎么检查？"), title)
        assert not covers_title(analyse("走访要注意什么？"), title)  # one term is too little to name a guide


class TestAssistantOutline:
    def test_first_visit_question_gets_the_guide_outline(self, assistant) -> None:  # type: ignore[no-untyped-def]
        ans = assistant.chat("第一次上门走访独居老人要注意什么？")
        assert not ans.refused
        assert "安全检查清单" in ans.answer and "燃气" in ans.answer and "紧急联系人" in ans.answer
        assert len(ans.citations) >= 3
        assert {c.hit.doc_id for c in ans.citations} == {"guides/first-visit-elderly-living-alone"}
        # every marker points at a citation whose passage holds that part
        assert any("燃气软管" in c.hit.text for c in ans.citations)

    def test_a_specific_question_gets_sentences(self, assistant) -> None:  # type: ignore[no-untyped-def]
        ans = assistant.chat("独居老人平时多久联系一次比较合适？")
        assert not ans.refused and "每月" in ans.answer and "分" not in ans.answer[:20]


class TestSentencesThatAnswerNothing:
    def test_headings_and_notes_about_the_text_are_not_answer_sentences(self) -> None:
        from app.core.sentences import sentences_of

        text = ("现场五步法\n- 先请对方坐下，倒杯水。\n本案例为教学示例，人物和情节为虚构，不对应真实个人。\n"
                "遇到办事单位要求开证明时怎么办\n不在清单内的，礼貌地解释并告诉他出具部门。")
        assert sentences_of(text) == ["- 先请对方坐下，倒杯水。", "不在清单内的，礼貌地解释并告诉他出具部门。"]


class TestAskedSection:
    @staticmethod
    def chunk(heading: str):  # type: ignore[no-untyped-def]
        from app.core.types import Chunk

        return Chunk(chunk_id=heading, doc_id="d", position=0, text="……", heading=heading, title="帮老人防诈骗")

    def test_the_section_a_question_names(self) -> None:
        from app.rag.outline import asked_section

        chunks = [self.chunk("帮老人防诈骗"), self.chunk("帮老人防诈骗 > 走访时怎么提醒"),
                  self.chunk("帮老人防诈骗 > 已经被骗了"), self.chunk("帮老人防诈骗 > 考社工证")]
        named = asked_section("走访时怎么提醒老人防电信诈骗？", chunks)
        assert named is not None and named.heading.endswith("走访时怎么提醒")
        # a single shared word ("社工") or the document title itself names no section
        assert asked_section("社工怎么帮老人防诈骗？", chunks) is None
