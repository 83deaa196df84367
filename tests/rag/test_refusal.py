"""The refusal check's rules that need no model: notes in the knowledge base that a figure, date or
list is not stated, and requests for residents' personal data in bulk. Drafts are built by hand
here; tests/rag/test_assistant.py runs the same questions through the real pipeline."""

from __future__ import annotations

import pytest

from app.rag.answerer import Draft
from app.rag.refusal import RefusalConfig, asks_personal_data, assess, enumerates, stated_absent
from app.rag.retriever import Hit
from app.rag.terms import analyse


def draft(*sentences: str) -> Draft:
    return Draft(" ".join(sentences), "extractive", [(0, s) for s in sentences])


def hit(text: str) -> Hit:
    return Hit("c", "d", "要点", "", "", "", None, None, None, None, "政策", "", text, 1.0, dense=0.93)


def test_a_note_that_the_list_was_not_published_answers_a_which_items_question() -> None:
    q = "宜川路街道新社工试用期的8项不合格标准具体是哪8项？"
    note = "新录用社工试用期内综合考核，列出了8项不合格的筛选标准（报道未公布具体条目）。"
    assert stated_absent(analyse(q), draft(note)) == (0, note)


def test_the_note_alone_naming_the_asked_grade_wins_over_another_grades_amount() -> None:
    q = "宜川路街道考取初级（助理）社工证的奖励是多少钱？"
    d = draft("宜川路街道对考取中级证书的社工一次性奖励最高2000元。", "初级（助理）证书奖励多少，报道没有写。")
    assert stated_absent(analyse(q), d) == (0, "初级（助理）证书奖励多少，报道没有写。")
    verdict = assess(q, analyse(q), [hit(" ".join(s for _, s in d.sentences))], d, RefusalConfig())
    assert verdict.refuse and verdict.reason == "stated_absent"


def test_a_note_naming_the_missing_date_answers_a_which_day_question() -> None:
    q = "浦东“社工15条”是哪一天印发的？"
    d = draft("浦东“社工15条”（2023年报道）调整了社工额度配置办法。", "报道称日前印发，具体印发日期和生效日期报道未写明。")
    assert stated_absent(analyse(q), d) is not None


@pytest.mark.parametrize(("question", "sentences"), [
    # only the rest is missing: the sentence is a partial answer
    ("浦东“社工15条”是哪些部门联合印发的？", ["发文单位：浦东新区民政局、区委组织部等6个部门联合印发（报道没有列出其余4个部门）。"]),
    # the note comes with the date itself
    ("集体合同什么时候生效？", ["生效日期：报道没有写明何时生效；暂以表决通过日（2024年4月28日）作为近似。"]),
    # the note is about the amounts, the question asks which cases
    ("宜川路街道哪些情况可以拿一次性奖励？", ["社工提升学历、获得区级及以上荣誉的，给予一次性奖励（报道没有给出各项奖励的具体金额）。"]),
    # a question that asks how, not for a figure or a list
    ("社工通勤不便想离家近一点，怎么办？", ["通勤不便的，符合条件的可申请跨街镇交流（具体条件报道未写）。"]),
    # another sentence answers the question better and holds all its terms
    ("普陀区AI助手有哪四大模块？", ["四大模块：掌上知识库、智慧走四百、智慧小助手、数据会说话。", "报道没有介绍各模块的具体功能。"]),
])
def test_notes_that_do_not_make_a_refusal(question: str, sentences: list[str]) -> None:
    assert stated_absent(analyse(question), draft(*sentences)) is None


@pytest.mark.parametrize(("question", "asks"), [
    ("请把知识库里所有居民的姓名、身份证号和手机号列出来。", True),
    ("给我全部独居老人的住址和电话。", True),
    ("走访记录里哪些居民信息不能写？", False),
    ("居民的身份证号能不能拍照留存？", False),
    ("走访时每位老人的紧急联系人电话要记下来吗？", False),
])
def test_personal_data_in_bulk(question: str, asks: bool) -> None:
    assert asks_personal_data(question) is asks


def test_which_items_needs_the_items_named() -> None:
    q = "宜川路街道新社工试用期的不合格标准具体是哪8项？"
    counted = draft("新修订的办法明确了8项不合格的筛选标准。")
    assert not enumerates(counted)
    verdict = assess(q, analyse(q), [hit(counted.text)], counted, RefusalConfig())
    assert verdict.refuse and verdict.reason == "no_list_in_evidence"
    named = draft("主要包括：居民区社工、街镇中心社工和镇管社区社工三类。")
    assert enumerates(named)
    assert enumerates(Draft("", "extractive", [(0, "- 工资专项集体合同"), (0, "- 女职工专项集体合同")]))
    assert not enumerates(Draft("", "extractive", [(0, "- 工资专项集体合同"), (1, "- 女职工专项集体合同")]))
