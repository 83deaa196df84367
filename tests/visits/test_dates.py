"""Reading dates by role (app.service.visits.dates.read_dates, used by quick capture). Every
sentence here is written for these tests; none is taken from the eval notes."""

from __future__ import annotations

import datetime as dt

import pytest

from app.service.visits.capture import clauses, draft_record, load_rules
from app.service.visits.dates import DEADLINE, NOW, PAST, PLAN, VISIT, find_days, read_dates

WED = dt.date(2026, 12, 2)  # a Wednesday


def roles(text: str, today: dt.date = WED) -> list[tuple[str, str, str]]:
    rules = load_rules()
    spans = [(o, o + len(c)) for o, c in clauses(text, rules)]
    return [(text[m.start:m.end], m.day.isoformat(), m.role) for m in read_dates(text, today, spans, rules.dates)]


def test_find_days_keeps_its_conventions() -> None:
    got = [(s, e, d.isoformat()) for s, e, d in find_days("明天去 下周三再打 月底前送表", WED)]
    assert got == [(0, 2, "2026-12-03"), (4, 7, "2026-12-09"), (10, 12, "2026-12-31")]


@pytest.mark.parametrize(("note", "want"), [
    # the visit's own day: a past day governing the note's first visit verb
    ("前天下午去的赵大爷家 今天才记上", [("前天下午", "2026-11-30", VISIT), ("今天", "2026-12-02", NOW)]),
    ("昨天打的电话 老周说腿好多了", [("昨天", "2026-12-01", VISIT)]),
    # a past event: the visit was already told, or the day is inside someone's account
    ("上门看了老周 他讲昨天在楼道里滑了一下", [("昨天", "2026-12-01", PAST)]),
    ("邻居说前天来过一个修水管的", [("前天", "2026-11-30", PAST)]),
    # a bare weekday that lies behind us by the verb after it
    ("去了钱家 楼下讲周一以后就没见过他", [("周一", "2026-11-30", PAST)]),
    # whereabouts and scheduled events are no deadline by themselves
    ("他女儿说他下周四才从外地回来", [("下周四", "2026-12-10", PLAN)]),
    ("下周五街道有个义诊", [("下周五", "2026-12-11", PLAN)]),
    # deadlines: a later day with an action, whoever does it
    ("我后天把表格送过去", [("后天", "2026-12-04", DEADLINE)]),
    ("他儿子说这周六带他去配眼镜", [("这周六", "2026-12-05", DEADLINE)]),
    # a same-day word is a deadline only before an action not yet done
    ("电话没通 晚点再打一次", [("晚点", "2026-12-02", DEADLINE)]),
    ("电话接通了 她说下午已经去过社区医院了", [("下午", "2026-12-02", NOW)]),
    ("老周在家 晚上偶尔睡不好", [("晚上", "2026-12-02", NOW)]),
])
def test_each_date_gets_its_role_from_the_words_around_it(note: str, want: list[tuple[str, str, str]]) -> None:
    assert roles(note) == want


def test_a_corrected_day_is_dropped_and_the_last_one_kept() -> None:
    d = draft_record("修水管的事 我说这周四 不对 这周五上门", WED)
    assert [f["due_on"] for f in d.followups] == ["2026-12-04"]


def test_a_scheduled_event_becomes_a_deadline_when_the_next_clause_makes_it_a_task() -> None:
    d = draft_record("上门看了老周 下周五街道有个义诊，让他去量个血压", WED)
    assert [f["due_on"] for f in d.followups] == ["2026-12-11"]
    d = draft_record("上门看了老周 下周五街道有个义诊", WED)
    assert d.followups == []


def test_whereabouts_give_their_day_to_a_later_then() -> None:
    d = draft_record("敲门没人 楼下讲她下周二回来 到时候再去", WED)
    assert [f["due_on"] for f in d.followups] == ["2026-12-08"]


def test_a_past_event_is_neither_the_visit_nor_a_deadline() -> None:
    d = draft_record("去了孙阿姨家 她讲周一去了趟医院 明天帮她问问报销", WED)
    assert d.visited_on == "2026-12-02"
    assert [f["due_on"] for f in d.followups] == ["2026-12-03"]


def test_the_visit_day_follows_the_first_visit_verb() -> None:
    assert draft_record("昨天下午去的吴伯家 他讲前天摔了一下 没伤到", WED).visited_on == "2026-12-01"
    assert draft_record("前天去了一趟 没人 今天又去了一次 见到了", WED).visited_on == "2026-12-02"
