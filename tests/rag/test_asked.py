"""What a question asks for must stand in the answer (app/rag/rules/asked.yaml): each kind with
questions that ask it and ones that do not, sentences that hold it and ones that do not, and the
select and assess stages keeping or refusing by it."""

from __future__ import annotations

import pytest

from app.rag.asked import asked_types, holds
from app.rag.pipeline.analyse import Analysis
from app.rag.pipeline.assess import assess
from app.rag.pipeline.retrieve import Evidence
from app.rag.pipeline.select import Scored, keep_asked
from app.rag.terms import analyse as analyse_terms


@pytest.mark.parametrize(("question", "kinds"), [
    ("独生子女父母奖励费一年给多少钱？", {"number", "money"}),
    ("居委会成员一届干几年？", {"number"}),
    ("残疾人坐公交能打几折？", {"number"}),
    ("申请以后多少个工作日出结果？", {"number"}),
    ("街道事务受理中心几点开门？", {"number"}),
    ("办居住证要带哪些材料？", {"materials"}),
    ("垃圾分类有哪几类？", set()),            # a list, not a number
    ("当兵那几年算不算工龄？", set()),        # 那几年 does not ask a number
    ("独居老人走访时要注意什么？", set()),
])
def test_what_a_question_asks(question: str, kinds: set[str]) -> None:
    assert {t.name for t in asked_types(question)} == kinds


@pytest.mark.parametrize(("question", "sentence", "held"), [
    ("独生子女父母奖励费一年给多少钱？", "每年发放奖励费120元。", True),
    ("独生子女父母奖励费一年给多少钱？", "按照国家规定发放独生子女父母奖励费。", False),
    ("居委会成员一届干几年？", "居民委员会每届任期五年。", True),
    ("居委会成员一届干几年？", "居民委员会成员由选举产生。", False),
    ("残疾人坐公交能打几折？", "对残疾人搭乘公共交通工具给予便利和优惠。", False),
    ("残疾人坐公交能打几折？", "对残疾人统一给予优惠。", False),  # 统一 is no number
    ("申请以后多少个工作日出结果？", "应当在十五个工作日内作出决定。", True),
    ("村务多久公开一次？", "一般事项至少每季度公布一次。", True),
    ("街道事务受理中心几点开门？", "中心为居民提供一门式服务。", False),
    ("街道事务受理中心几点开门？", "工作日上午9时至下午5时开放。", True),
    ("办居住证要带哪些材料？", "申请人应当提交居民身份证和住所证明。", True),
    ("办居住证要带哪些材料？", "居住证由公安机关签发。", False),
    ("初级社工证的奖励是多少钱？", "初级证书的奖励金额文件没有写明。", True),  # a note of what is not stated
])
def test_whether_a_sentence_holds_it(question: str, sentence: str, held: bool) -> None:
    assert holds(asked_types(question), sentence) is held


def _analysis(question: str) -> Analysis:
    return Analysis(question, question, question, analyse_terms(question))


def _evidence() -> Evidence:
    from app.core.types import Hit

    hit = Hit(chunk_id="c1", doc_id="d", title="示例", source="", issuer="", region="", published=None,
              effective_from=None, effective_to=None, replaced_by=None, doc_type="policy", heading="", text="",
              score=1.0)
    return Evidence([hit], [hit])


def test_select_keeps_the_best_sentences_that_hold_it_and_assess_refuses_when_none_does() -> None:
    q = "独生子女父母奖励费一年给多少钱？"
    scored = [Scored(0, 0, "按照国家规定发放独生子女父母奖励费。", 0.9),
              Scored(0, 1, "每年发放奖励费120元。", 0.4),
              Scored(0, 2, "奖励费由街道发放。", 0.3),
              Scored(0, 3, "另有补助300元。", 0.2)]  # fourth: past the top three, not kept
    kept, asked = keep_asked(q, scored)
    assert [s.text for s in kept] == ["每年发放奖励费120元。"]
    v = assess(_analysis(q), _evidence(), scored, 0.05, asked=asked, kept=kept)
    assert not v.refuse and v.score == pytest.approx(0.4)

    none_hold = [s for s in scored if "元" not in s.text]
    kept, asked = keep_asked(q, none_hold)
    assert kept == []
    v = assess(_analysis(q), _evidence(), none_hold, 0.05, asked=asked, kept=kept)
    assert v.refuse and v.reason == "asked_missing" and v.missing == ("具体金额或标准",)


def test_a_question_that_asks_none_of_them_keeps_every_sentence() -> None:
    scored = [Scored(0, 0, "走访前先电话联系。", 0.6), Scored(0, 1, "带上工作证。", 0.3)]
    kept, asked = keep_asked("第一次走访要注意什么？", scored)
    assert kept == scored and asked == []
