"""What a question asks for: its kind of answer decides how long the answer may be."""

from __future__ import annotations

import pytest

from app.rag.terms import analyse


@pytest.mark.parametrize(("question", "kind"), [
    ("宜川路街道考取初级社工证的奖励是多少钱？", "amount"),
    ("独居老人平时多久联系一次比较合适？", "frequency"),
    ("高龄老人多久走访一次？", "frequency"),
    ("集体合同是什么时候通过的？", "date"),
    ("产假是多少天？", "count"),
    ("走访时哪些信息不能记？", "list"),
    ("残疾人两项补贴怎么申请？", "procedure"),
    ("居住证积分要达到多少分才能落户？", "count"),
    ("8项不合格标准具体是哪8项？", "list"),
    ("具体是哪几项？", "list"),
    ("一共有几项？", "count"),
    ("意见里社区工作者是怎么定义的？", "fact"),  # a definition, not a procedure
    ("“三岗十八级”是什么意思？", "fact"),
])
def test_kind(question: str, kind: str) -> None:
    assert analyse(question).kind == kind


def test_amount_question_phrased_with_the_noun_after_duoshao(assistant) -> None:  # type: ignore[no-untyped-def]
    ans = assistant.chat("宜川路街道给考取中级社工证的社区工作者发多少一次性奖励？")
    assert not ans.refused and "2000元" in ans.answer


def test_follow_up_asking_how_often_finds_the_frequency_section(assistant) -> None:  # type: ignore[no-untyped-def]
    history = [{"role": "user", "content": "第一次走访独居老人要注意什么？"},
               {"role": "assistant", "content": "重点看燃气、用电、防跌倒、用药和饮食，并登记紧急联系人。"}]
    ans = assistant.chat("之后多久去看一次？", history)
    assert not ans.refused and "每月" in ans.answer
