"""问数 on SQLite and PostgreSQL over the dashboard's hand-worked roster (tests/visits/test_dashboard.py),
asked on a fixed day: the figures and lists, each asker's scope, declines, and the LLM path with a
deterministic scripted model (tests/fakes/llm.py) whose SQL goes through the checker and runs read-only in scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.service.askdata import AskData
from app.service.dashboard import Dashboard
from tests.fakes.llm import ScriptedLLM
from tests.visits.conftest import World
from tests.visits.test_dashboard import board  # noqa: F401  (the fixture)

DAY = dt.date(2026, 11, 30)


@pytest.fixture
def asker(board: tuple[World, Dashboard, dict[str, int]]) -> tuple[World, AskData, dict[str, int]]:  # noqa: F811
    w, _, h = board
    return w, AskData(w.db, w.visits), h


@pytest.mark.parametrize(("question", "metric", "value", "rooms"), [
    ("独居老人有几户", "households", 2, ["1", "4"]),
    ("这个月独居老人有哪些还没入户见到的", "not_visited", 1, ["4"]),
    ("本月入户见到人的有几户", "visited", 2, ["1", "3"]),
    ("低包户这个月走访了几次", "visits", 2, ["3", "3"]),
    ("有没有紧急情况还没确认的", "urgent_open", 1, ["3"]),
    ("过了期限还没关的跟进有几条", "open_followups", 1, ["1"]),
    ("这个月医疗方面的诉求有几条", "needs", 1, ["1"]),
    ("上个月走访了几次", "visits", 1, ["2"]),
])
def test_questions_read_and_answered(asker: tuple[World, AskData, dict[str, int]], question: str, metric: str,
                                     value: int, rooms: list[str]) -> None:
    w, a, h = asker
    r = a.ask(w.sup, question, today=DAY)
    assert not r.declined and r.metric == metric and r.value == value, r.to_dict()
    by_room = {v: k[1:] for k, v in h.items()}
    got = sorted(by_room.get(x.get("household_id", x["id"]), "?") for x in r.items)
    assert got == sorted(rooms)
    assert r.reading.startswith("按：") and r.definition


def test_a_share_and_its_reading(asker: tuple[World, AskData, dict[str, int]]) -> None:
    w, a, _ = asker
    r = a.ask(w.sup, "这个月电话走访占比多少", today=DAY)
    assert r.metric == "method_share" and r.value == pytest.approx(0.4) and len(r.ids) == 2
    assert r.reading == "按：本月 · 电话 · 走访方式占比" and "40.0%" in r.answer


def test_each_asker_sees_only_their_scope(asker: tuple[World, AskData, dict[str, int]]) -> None:
    w, a, _ = asker
    assert a.ask(w.w1, "我手上有几户", today=DAY).value == 3
    assert a.ask(w.w1, "这个月紧急的走访记录有几条", today=DAY).value == 0  # the urgent one is w2's
    assert a.ask(w.w2, "这个月紧急的走访记录有几条", today=DAY).value == 1
    other = a.ask(w.sup_other, "测试居委甲独居老人有几户", today=DAY)
    assert other.value == 0 and other.items == []  # a 居委 outside the scope is not even a name it knows
    assert a.ask(w.admin, "独居老人有几户", today=DAY).value == 2
    reads = [e for e in w.visits.access.recent(20) if e["detail"].get("ask")]
    assert reads, "every answer is in the access log"


@pytest.mark.parametrize("question", ["王阿姨的手机号是多少", "明年高龄老人会多几户", "帮我写个总结", "你好",
                                      "每栋楼各有多少户", "", "走访" * 200])
def test_what_it_cannot_read_is_declined_with_a_reason(asker: tuple[World, AskData, dict[str, int]],
                                                       question: str) -> None:
    w, a, _ = asker
    r = a.ask(w.sup, question, today=DAY)
    assert r.declined and r.reason and r.value == 0 and not r.items


def test_with_an_llm_the_model_gets_the_schema_never_rows(asker: tuple[World, AskData, dict[str, int]]) -> None:
    w, a, _ = asker
    fake = ScriptedLLM("SELECT building, count(*) AS n FROM hh GROUP BY building ORDER BY building")
    a.llm, a.llm_allowed = fake, True
    r = a.ask(w.w1, "每栋楼各有多少户", today=DAY)
    assert not r.declined and r.by == "llm" and r.columns == ["building", "n"]
    assert r.rows == [["1", 3]]  # w1's three households, all in building 1: the scope held
    assert "LIMIT" in r.sql.upper()
    sent = fake.prompts[0]
    assert "hh" in sent and "每栋楼各有多少户" in sent
    assert "测试小区" not in sent and "测试1" not in sent and "1390000" not in sent
    assert any(e["action"] == "llm_send" for e in w.visits.access.recent(5))


@pytest.mark.parametrize("sql", ["DELETE FROM visits", "SELECT * FROM users", "SELECT 1; DROP TABLE visits",
                                 "SELECT name, phone FROM members"])
def test_a_models_unsafe_sql_is_refused_and_nothing_changes(asker: tuple[World, AskData, dict[str, int]],
                                                            sql: str) -> None:
    w, a, _ = asker
    a.llm, a.llm_allowed = ScriptedLLM(sql), True
    before = a.ask(w.sup, "独居老人有几户", today=DAY).value
    r = a.ask(w.sup, "每栋楼各有多少户", today=DAY)
    assert r.declined and "没有通过检查" in r.reason
    assert a.ask(w.sup, "独居老人有几户", today=DAY).value == before


def test_a_personal_question_never_goes_to_the_llm(asker: tuple[World, AskData, dict[str, int]]) -> None:
    w, a, _ = asker
    fake = ScriptedLLM("SELECT 1")
    a.llm, a.llm_allowed = fake, True
    r: Any = a.ask(w.sup, "测试1的身份证号是多少", today=DAY)
    assert r.declined and not fake.prompts


# -- readings that set 3's development half taught (eval/askdata/ablation.md, round 3); own sentences --
def _read(question: str) -> Any:
    from app.service.askdata.grammar import Names, read

    names = Names(tags={"高龄": "高龄"}, juwei={}, xiaoqu={},
                  workers={"示例社工小李": "示例社工小李", "小李": "示例社工小李", "李社工": "示例社工小李"})
    return read(question, names, dt.date(2026, 11, 6))


def test_a_need_that_qualifies_visits_counts_the_visits() -> None:
    r = _read("这个月有医疗方面诉求的走访记录有几条")
    assert (r.metric, r.filters.get("need_category")) == ("visits", "医疗健康")
    assert _read("这个月医疗方面的诉求有几条").metric == "needs"


def test_how_the_question_came_is_not_a_filter() -> None:
    r = _read("书记刚发微信来问 这个月入户走访了多少次")
    assert (r.metric, r.filters.get("method")) == ("visits", "入户")
    assert _read("这个月微信走访了多少次").filters.get("method") == "微信"


def test_last_year_is_declined_but_a_month_of_last_year_is_a_month() -> None:
    assert _read("去年同期走访了几次").decline and not _read("去年同期走访了几次").metric
    r = _read("去年12月走访了几次")
    assert not r.decline and r.period is not None and (r.period.start, r.period.end) == (
        dt.date(2025, 12, 1), dt.date(2025, 12, 31))


def test_a_worker_named_by_surname_and_role() -> None:
    r = _read("李社工手上的高龄老人有几户")
    assert (r.metric, r.filters.get("worker"), r.filters.get("tags")) == ("households", "示例社工小李", ["高龄"])
