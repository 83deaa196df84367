"""How passages are read into candidate sentences (packed list items and table rows, labels,
headings, notes about the document itself) and how a named section is answered. Which sentence
answers a question is the selector's (tests/rag/test_select.py, tests/rag/test_assistant.py)."""

from __future__ import annotations

from app.core.sentences import sentences_of, unpack_lines
from app.core.types import Hit
from app.rag.answerer import section_draft


def hit(text: str, heading: str = "") -> Hit:
    return Hit("c", "d", "指南", "", "", "", None, None, None, None, "手册", heading, text, 1.0)


def test_packed_items_and_table_rows_are_unpacked() -> None:
    packed = "说明如下。- 第一项；- 第二项| 事 | 去哪里 | | --- | --- | | 低保 | 受理中心 |"
    assert unpack_lines(packed).split("\n") == ["说明如下。", "- 第一项；", "- 第二项| 事 | 去哪里 |", "| --- | --- |",
                                                "| 低保 | 受理中心 |"]


def test_a_table_row_is_one_statement_and_the_header_is_dropped() -> None:
    table = "| 居民要的证明 | 由谁出具 |\n| --- | --- |\n| 亲属关系 | 由公安户籍部门查询；需要公证的，到公证机构 |"
    assert sentences_of(table) == ["亲属关系：由公安户籍部门查询；需要公证的，到公证机构。"]


def test_bold_is_not_a_bullet_and_quoted_questions_leave_no_fragment() -> None:
    text = "**信号**：说“活着没意思”；交代后事。\n- “能领吗？”——回答：津贴面向本市户籍老人。"
    out = sentences_of(text)
    assert out[0] == "**信号**：说“活着没意思”；"
    assert "津贴面向本市户籍老人。" in out and not any(s.startswith(("——", "回答")) for s in out)


def test_a_named_section_is_answered_in_its_own_order() -> None:
    section = hit("- 用一句话讲核心：凡是让您转账的都是骗子。\n- 告诉老人上门不收钱。\n- 帮老人设置来电拦截。",
                  heading="帮老人防诈骗 > 走访时怎么提醒")
    draft = section_draft(section, 520)
    assert draft.text.splitlines()[0] == "1. 用一句话讲核心：凡是让您转账的都是骗子。[1]"
    assert len(draft.sentences) == 3


def test_a_heading_glued_to_a_paragraph_and_self_notes_are_dropped() -> None:
    out = sentences_of("救助标准由各区规定，本文不写金额。临时救助是什么\n临时救助是应急性、过渡性的救助。")
    assert out == ["临时救助是应急性、过渡性的救助。"]
