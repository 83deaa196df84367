"""The 问数 set's reference answers (eval/askdata/reference.py) on a tiny hand-built roster, with
figures worked out by hand; the scorer (eval/askdata/score.py) with a test-only oracle that answers
from the reference and is told to decline or err on purpose; and the question file itself over the
demo roster (well-formed, covering every metric, period and filter, split as the README says)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.core.settings import Settings
from app.service.accounts import Accounts, User
from app.service.db import ServiceDB
from app.service.factory import load_region_tree
from app.service.visits import Visits
from app.service.visits.book import FollowupIn, NeedIn, VisitIn
from app.service.visits.demo import DEMO_WORKERS, DEMO_XIAOQU
from app.service.visits.roster import HouseholdIn, MemberIn
from eval.askdata.reference import (
    METRICS,
    PERIOD_KINDS,
    ROOT,
    Expected,
    Reference,
    check_expect,
    period_range,
    tag_aliases,
)
from eval.askdata.score import (
    EVAL_DAY,
    QUESTIONS_SET2,
    QUESTIONS_SET3,
    World,
    assign_splits,
    assign_splits_set2,
    build_world,
    group_of,
    judge,
    load,
    render,
    run,
    score,
)

TODAY = dt.date(2026, 11, 18)  # a Wednesday: this week is 11-16..11-22, last week 11-09..11-15
JIA, YI, BING = "问数测试居委甲（虚构）", "问数测试居委乙（虚构）", "问数测试居委丙（虚构）"
D = dt.date.fromisoformat


# -- a tiny roster, by hand -----------------------------------------------------------------------------
#
#  household  居委(街道)      小区   楼      worker  tags              status
#  h1         甲(宜川路)       小区A  1       w1      独居老人, 高龄     在住
#  h2         甲(宜川路)       小区A  3号楼   w1      高龄               在住
#  h3         乙(宜川路)       小区B  3       w2      低保               在住   (lent to w1 until 11-30)
#  h4         乙(宜川路)       小区B  2       w2      高龄               搬离
#  h5         丙(长寿路)       小区C  1       w2      高龄               在住   (outside sup's region)
#
#  visit  household  by   on          method  met  risk  needs                    follow-ups
#  v1     h1         w1   11-17       入户    1    正常  医疗健康, 生活照料       f1 due 11-20
#  v2     h1         w1   10-20       电话    1    关注  心理关爱                 f2 due 11-01
#  v3     h2         w1   11-10       入户    0    正常  —                        f3 (no due day)
#  v4     h2         sup  11-18       微信    1    正常  —                        —
#  v5     h3         w2   11-03       入户    1    紧急  医疗健康, 医疗健康       f4 due 11-05, f5 due 11-04 (closed)
#  v6     h3         w2   09-15       入户    1    紧急  — (acknowledged)         —
#  v7     h4         w2   11-12       入户    1    正常  —                        —
#  v8     h5         w2   11-16       入户    1    紧急  —                        f7 due 11-10


@dataclass
class Tiny:
    db: ServiceDB
    visits: Visits
    ref: Reference
    sup: User
    w1: User
    w2: User
    h: dict[str, int] = field(default_factory=dict)
    v: dict[str, int] = field(default_factory=dict)
    f: dict[str, int] = field(default_factory=dict)

    def ask(self, metric: str, period: dict[str, Any] | None = None, user: User | None = None,
            today: dt.date = TODAY, **filters: Any) -> Expected:
        expect: dict[str, Any] = {"metric": metric, "filters": filters}
        if period is not None:
            expect["period"] = period
        return self.ref.expected(expect, user or self.sup, today)

    def hs(self, *names: str) -> tuple[int, ...]:
        return tuple(sorted(self.h[n] for n in names))

    def vs(self, *names: str) -> tuple[int, ...]:
        return tuple(sorted(self.v[n] for n in names))

    def fs(self, *names: str) -> tuple[int, ...]:
        return tuple(sorted(self.f[n] for n in names))


def _household(visits: Visits, admin: User, juwei: str, xiaoqu: str, building: str, room: str, worker: str,
               tags: list[str], status: str = "在住") -> int:
    h = HouseholdIn(juwei=juwei, xiaoqu=xiaoqu, building=building, room=room, worker=worker, tags=tags,
                    status=status, members=[MemberIn(name="测试" + room, relation="本人", birth_year=1940)])
    return visits.roster.create(admin, h).id


def _visit(visits: Visits, user: User, key: str, hid: int, on: str, method: str, met: bool, risk: str,
           needs: Sequence[str] = (), followups: Sequence[tuple[str, str]] = ()) -> int:
    v = VisitIn(client_id=f"askdata-test-{key}", household_id=hid, visited_on=on, method=method, met=met, risk=risk,
                needs=[NeedIn(category=c, text="测试诉求") for c in needs],
                followups=[FollowupIn(item=item, due_on=due) for item, due in followups])
    saved, _ = visits.book.save(user, v)
    return int(saved["id"])


@pytest.fixture
def tiny(records_url: str, tmp_path: Path) -> Iterator[Tiny]:
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=ROOT / "knowledge")
    db = ServiceDB(records_url)
    visits = Visits.build(settings, db, None, None, load_region_tree(settings.regions_file))  # type: ignore[arg-type]
    visits.regions.add(JIA, "宜川路街道")
    visits.regions.add(YI, "宜川路街道")
    visits.regions.add(BING, "长寿路街道")
    acc = Accounts(db)
    pw = "a-long-password"
    sup = acc.add("sup", pw, role="supervisor", region="宜川路街道")
    w1 = acc.add("w1", pw, role="worker", region="宜川路街道")
    w2 = acc.add("w2", pw, role="worker", region="宜川路街道")
    admin = acc.add("admin", pw, role="admin")
    t = Tiny(db, visits, Reference(db, visits, settings.visit_tags_file), sup, w1, w2)
    t.h["h1"] = _household(visits, admin, JIA, "小区A", "1", "101", "w1", ["独居", "高龄"])  # an alias on import
    t.h["h2"] = _household(visits, admin, JIA, "小区A", "3号楼", "201", "w1", ["高龄老人"])
    t.h["h3"] = _household(visits, admin, YI, "小区B", "3", "301", "w2", ["低保"])
    t.h["h4"] = _household(visits, admin, YI, "小区B", "2", "401", "w2", ["高龄"], status="搬离")
    t.h["h5"] = _household(visits, admin, BING, "小区C", "1", "501", "w2", ["高龄"])
    visits.roster.share(sup, t.h["h3"], "w1", until="2026-11-30")
    t.v["v1"] = _visit(visits, w1, "v1", t.h["h1"], "2026-11-17", "入户", True, "正常", ["医疗健康", "生活照料"],
                       [("f1", "2026-11-20")])
    t.v["v2"] = _visit(visits, w1, "v2", t.h["h1"], "2026-10-20", "电话", True, "关注", ["心理关爱"],
                       [("f2", "2026-11-01")])
    t.v["v3"] = _visit(visits, w1, "v3", t.h["h2"], "2026-11-10", "入户", False, "正常", [], [("f3", "")])
    t.v["v4"] = _visit(visits, sup, "v4", t.h["h2"], "2026-11-18", "微信", True, "正常")
    t.v["v5"] = _visit(visits, w2, "v5", t.h["h3"], "2026-11-03", "入户", True, "紧急", ["医疗健康", "医疗健康"],
                       [("f4", "2026-11-05"), ("f5", "2026-11-04")])
    t.v["v6"] = _visit(visits, w2, "v6", t.h["h3"], "2026-09-15", "入户", True, "紧急")
    t.v["v7"] = _visit(visits, w2, "v7", t.h["h4"], "2026-11-12", "入户", True, "正常")
    t.v["v8"] = _visit(visits, w2, "v8", t.h["h5"], "2026-11-16", "入户", True, "紧急", [], [("f7", "2026-11-10")])
    for item in visits.book.followups(admin, status="all"):
        t.f[item["item"]] = int(item["id"])
    visits.book.close_followup(w2, t.f["f5"], "已办好")  # a worker's close: v5 stays unacknowledged
    visits.book.acknowledge(sup, t.v["v6"])
    yield t
    db.close()


# -- periods ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "extra", "today", "first", "last"), [
    ("today", {}, "2026-11-18", "2026-11-18", "2026-11-18"),
    ("yesterday", {}, "2026-11-18", "2026-11-17", "2026-11-17"),
    ("yesterday", {}, "2027-01-01", "2026-12-31", "2026-12-31"),
    ("this_week", {}, "2026-11-18", "2026-11-16", "2026-11-22"),
    ("this_week", {}, "2026-11-16", "2026-11-16", "2026-11-22"),  # a Monday is its own week's first day
    ("this_week", {}, "2026-11-22", "2026-11-16", "2026-11-22"),  # and a Sunday its last
    ("last_week", {}, "2026-11-18", "2026-11-09", "2026-11-15"),
    ("last_week", {}, "2027-01-01", "2026-12-21", "2026-12-27"),
    ("this_month", {}, "2026-11-18", "2026-11-01", "2026-11-30"),
    ("last_month", {}, "2026-11-18", "2026-10-01", "2026-10-31"),
    ("last_month", {}, "2027-01-15", "2026-12-01", "2026-12-31"),
    ("last_month", {}, "2028-03-31", "2028-02-01", "2028-02-29"),
    ("this_quarter", {}, "2026-11-18", "2026-10-01", "2026-12-31"),
    ("this_quarter", {}, "2026-04-01", "2026-04-01", "2026-06-30"),
    ("last_quarter", {}, "2026-11-18", "2026-07-01", "2026-09-30"),
    ("last_quarter", {}, "2027-02-10", "2026-10-01", "2026-12-31"),
    ("this_year", {}, "2026-11-18", "2026-01-01", "2026-12-31"),
    ("last_n_days", {"n": 7}, "2026-11-18", "2026-11-12", "2026-11-18"),
    ("last_n_days", {"n": 1}, "2026-11-18", "2026-11-18", "2026-11-18"),
    ("last_n_days", {"n": 30}, "2026-03-01", "2026-01-31", "2026-03-01"),
    ("month", {"month": "2026-09"}, "2026-11-18", "2026-09-01", "2026-09-30"),
    ("month", {"month": "2028-02"}, "2026-11-18", "2028-02-01", "2028-02-29"),
])
def test_periods_are_whole_calendar_spans_and_last_n_days_ends_today(kind: str, extra: dict[str, Any], today: str,
                                                                      first: str, last: str) -> None:
    assert period_range({"kind": kind, **extra}, D(today)) == (D(first), D(last))


def test_bad_periods_and_readings_are_refused() -> None:
    for bad in ({"kind": "next_week"}, {"kind": "last_n_days"}, {"kind": "last_n_days", "n": 0},
                {"kind": "month", "month": "2026-13"}, {"kind": "month", "month": "十月"}):
        with pytest.raises(ValueError):
            period_range(bad, TODAY)
    for expect in ({"metric": "income"}, {"metric": "households", "period": {"kind": "today"}},
                   {"metric": "households", "filters": {"method": "电话"}},
                   {"metric": "visited", "filters": {"risk": "紧急"}},
                   {"metric": "method_share", "period": {"kind": "this_month"}},
                   {"metric": "visits", "filters": {"method": "短信"}},
                   {"metric": "needs", "filters": {"need_category": "吃饭"}},
                   {"metric": "open_followups", "filters": {"older_than_days": "两周"}},
                   {"metric": "urgent_open", "filters": {"overdue": True}},
                   {"metric": "visits", "filters": {"tags": "高龄"}},
                   {"metric": "visits", "periods": {"kind": "today"}}):
        with pytest.raises(ValueError):
            check_expect(expect)
    check_expect({"metric": "method_share", "filters": {"method": "电话"}, "period": {"kind": "this_month"}})


def test_tag_aliases_come_from_the_tag_file() -> None:
    aliases = tag_aliases()
    assert aliases["独居"] == "独居老人" and aliases["高龄老人"] == "高龄" and aliases["卧床"] == "失能半失能"
    assert aliases["低保户"] == "低保" and aliases["困难户"] == "困难家庭" and aliases["高龄"] == "高龄"


# -- the metrics on the tiny roster ---------------------------------------------------------------------

def test_households_count_living_households_in_scope(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("households") == Expected("households", 3, t.hs("h1", "h2", "h3"))  # h4 moved out, h5 elsewhere
    assert t.ask("households", tags=["高龄"]).ids == t.hs("h1", "h2")
    assert t.ask("households", tags=["独居"]).ids == t.hs("h1")  # an alias
    assert t.ask("households", tags=["独居老人", "高龄老人"]).ids == t.hs("h1")  # every tag, by name or alias
    assert t.ask("households", tags=["低保", "高龄"]).value == 0
    assert t.ask("households", building="3").ids == t.hs("h2", "h3")  # '3号楼' and '3' are one building
    assert t.ask("households", building="3号楼").ids == t.hs("h2", "h3")
    assert t.ask("households", juwei=JIA).ids == t.hs("h1", "h2")
    assert t.ask("households", juwei="宜川路街道").ids == t.hs("h1", "h2", "h3")  # a street: every 居委 under it
    assert t.ask("households", juwei=BING).value == 0  # outside the supervisor's region
    assert t.ask("households", worker="w2").ids == t.hs("h3")
    assert t.ask("households", xiaoqu="小区B").ids == t.hs("h3")
    # a worker sees their own and the ones lent to them, while the loan lasts
    assert t.ask("households", user=t.w2).ids == t.hs("h3", "h5")
    assert t.ask("households", user=t.w1).ids == t.hs("h1", "h2", "h3")
    assert t.ask("households", user=t.w1, today=D("2026-12-05")).ids == t.hs("h1", "h2")
    with pytest.raises(ValueError):
        t.ask("households", tags=["富裕"])


def test_visited_and_not_visited_count_only_a_home_visit_that_met(tiny: Tiny) -> None:
    t = tiny
    month = {"kind": "this_month"}
    # November: v1 (h1 入户 met), v3 (h2 未遇), v4 (h2 微信), v5 (h3 入户 met), v7 (h4, moved out)
    assert t.ask("visited", month) == Expected("visited", 2, t.hs("h1", "h3"))
    assert t.ask("not_visited", month) == Expected("not_visited", 1, t.hs("h2"))
    assert t.ask("visited") == t.ask("visited", month)  # no period: this month
    assert t.ask("not_visited") == t.ask("not_visited", month)
    assert t.ask("visited", {"kind": "last_week"}).value == 0  # only v3 (未遇) and v7 (moved out)
    assert t.ask("not_visited", {"kind": "last_week"}).ids == t.hs("h1", "h2", "h3")
    assert t.ask("visited", {"kind": "this_week"}).ids == t.hs("h1")
    assert t.ask("visited", {"kind": "yesterday"}).ids == t.hs("h1")
    assert t.ask("visited", {"kind": "today"}).value == 0  # v4 is a WeChat call
    assert t.ask("visited", {"kind": "last_quarter"}).ids == t.hs("h3")  # v6
    assert t.ask("visited", {"kind": "month", "month": "2026-10"}).value == 0  # v2 is a phone call
    assert t.ask("visited", month, tags=["高龄"]).ids == t.hs("h1")
    assert t.ask("not_visited", month, tags=["高龄"]).ids == t.hs("h2")
    assert t.ask("not_visited", {"kind": "this_quarter"}, worker="w1").ids == t.hs("h2")
    assert t.ask("visited", month, juwei=YI).ids == t.hs("h3")
    assert t.ask("visited", month, user=t.w2).ids == t.hs("h3", "h5")  # v8 is in w2's scope
    assert t.ask("not_visited", {"kind": "last_n_days", "n": 7}, user=t.w2).ids == t.hs("h3")


def test_visits_count_every_record_in_the_period(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("visits", {"kind": "this_month"}).ids == t.vs("v1", "v3", "v4", "v5", "v7")  # v8 out of scope
    assert t.ask("visits").value == 5
    assert t.ask("visits", {"kind": "last_month"}).ids == t.vs("v2")
    assert t.ask("visits", {"kind": "this_quarter"}).value == 6
    assert t.ask("visits", {"kind": "last_quarter"}).ids == t.vs("v6")
    assert t.ask("visits", {"kind": "this_year"}).value == 7
    assert t.ask("visits", {"kind": "today"}).ids == t.vs("v4")
    assert t.ask("visits", {"kind": "last_n_days", "n": 7}).ids == t.vs("v1", "v4", "v7")
    assert t.ask("visits", {"kind": "month", "month": "2026-09"}).ids == t.vs("v6")
    assert t.ask("visits", {"kind": "month", "month": "2026-08"}).value == 0
    assert t.ask("visits", method="入户", met=0).ids == t.vs("v3")
    assert t.ask("visits", method="入户", met=1).ids == t.vs("v1", "v5", "v7")
    assert t.ask("visits", worker="w2").ids == t.vs("v5", "v7")  # the visit's worker
    assert t.ask("visits", worker="sup").ids == t.vs("v4")
    assert t.ask("visits", {"kind": "this_year"}, risk="紧急").ids == t.vs("v5", "v6")
    assert t.ask("visits", {"kind": "this_year"}, need_category="医疗健康").ids == t.vs("v1", "v5")
    assert t.ask("visits", tags=["高龄"]).ids == t.vs("v1", "v3", "v4", "v7")  # a moved-out household's visit counts
    assert t.ask("visits", user=t.w1).ids == t.vs("v1", "v3", "v4", "v5")  # h3 is lent to w1


def test_method_share_is_a_fraction_of_the_periods_visits(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("method_share", method="入户") == Expected("method_share", 0.8, t.vs("v1", "v3", "v5", "v7"))
    assert t.ask("method_share", {"kind": "this_month"}, method="电话") == Expected("method_share", 0.0, ())
    assert t.ask("method_share", {"kind": "this_week"}, method="微信") == Expected("method_share", 0.5, t.vs("v4"))
    assert t.ask("method_share", {"kind": "last_month"}, method="电话").value == 1.0
    assert t.ask("method_share", {"kind": "month", "month": "2026-08"}, method="入户") == Expected("method_share", 0.0, ())
    share = t.ask("method_share", {"kind": "this_quarter"}, method="入户", tags=["高龄"])  # v1 v2 v3 v4 v7
    assert share.ids == t.vs("v1", "v3", "v7") and share.value == pytest.approx(0.6)
    assert t.ask("method_share", {"kind": "this_quarter"}, method="入户", worker="w1").value == pytest.approx(2 / 3)


def test_open_followups_age_by_the_visit_day_and_overdue_by_due_day(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("open_followups") == Expected("open_followups", 4, t.fs("f1", "f2", "f3", "f4"))  # f5 closed
    assert t.ask("open_followups", overdue=True).ids == t.fs("f2", "f4")  # f3 has no due day, f1 is due later
    # raised on its visit's day: f1 1 day ago, f2 29, f3 8, f4 15
    assert t.ask("open_followups", older_than_days=14).ids == t.fs("f2", "f4")
    assert t.ask("open_followups", older_than_days=15).ids == t.fs("f2")  # more than 15, not 15
    assert t.ask("open_followups", older_than_days=7).ids == t.fs("f2", "f3", "f4")
    assert t.ask("open_followups", older_than_days=14, overdue=True, building="3").ids == t.fs("f4")
    assert t.ask("open_followups", worker="w1").ids == t.fs("f1", "f2", "f3")
    assert t.ask("open_followups", tags=["低保"]).ids == t.fs("f4")
    assert t.ask("open_followups", user=t.w2).ids == t.fs("f4", "f7")
    assert t.ask("open_followups", user=t.w2, overdue=True, today=D("2026-11-06")).ids == t.fs("f4")


def test_urgent_open_is_urgent_and_unacknowledged(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("urgent_open") == Expected("urgent_open", 1, t.vs("v5"))  # v6 acknowledged, v8 out of scope
    assert t.ask("urgent_open", user=t.w2).ids == t.vs("v5", "v8")
    assert t.ask("urgent_open", user=t.w1).ids == t.vs("v5")  # h3 lent to w1
    assert t.ask("urgent_open", building="3").ids == t.vs("v5")
    assert t.ask("urgent_open", tags=["高龄"]).value == 0
    assert t.ask("urgent_open", worker="w1").value == 0


def test_needs_count_entries_and_list_their_visits(tiny: Tiny) -> None:
    t = tiny
    assert t.ask("needs") == Expected("needs", 4, t.vs("v1", "v5"))  # 2 + 2 entries
    assert t.ask("needs", need_category="医疗健康") == Expected("needs", 3, t.vs("v1", "v5"))
    assert t.ask("needs", need_category="生活照料") == Expected("needs", 1, t.vs("v1"))
    assert t.ask("needs", {"kind": "last_month"}) == Expected("needs", 1, t.vs("v2"))
    assert t.ask("needs", {"kind": "last_week"}).value == 0
    assert t.ask("needs", {"kind": "this_year"}, need_category="心理关爱", worker="w1").ids == t.vs("v2")
    assert t.ask("needs", {"kind": "this_year"}, risk="紧急").value == 2


# -- the scorer, with a fake parser ------------------------------------------------------------------------

@dataclass
class FakeResult:
    declined: bool
    metric: str = ""
    value: int | float = 0
    ids: list[int] = field(default_factory=list)
    reading: str = ""


class ReferenceOracle:
    """A test-only fake parser: it looks the question up in the rows it was given and answers from the
    reference, except where told to decline, to err, to answer a should-decline question, or to raise."""

    def __init__(self, world: World, rows: list[dict[str, Any]], *, decline: Collection[str] = (),
                 err: dict[str, str] | None = None, answer: Collection[str] = (),
                 share_off: dict[str, float] | None = None, boom: Collection[str] = ()) -> None:
        self.world = world
        self.by_question = {r["question"]: r for r in rows}
        self.decline, self.err, self.answer, self.boom = decline, err or {}, answer, boom
        self.share_off = share_off or {}

    def ask(self, user: User, question: str, *, today: dt.date) -> FakeResult:
        r = self.by_question[question]
        qid = r["id"]
        if qid in self.boom:
            raise RuntimeError("oracle told to fail")
        if r["expect"] == "decline":
            if qid in self.answer:
                return FakeResult(False, "households", 3, [1, 2, 3], "胡乱读成了户数")
            return FakeResult(True, reading="看不懂")
        if qid in self.decline:
            return FakeResult(True, reading="不支持")
        e = self.world.reference.expected(r["expect"], user, today)
        res = FakeResult(False, e.metric, e.value, list(e.ids), f"读作 {e.metric}")
        how = self.err.get(qid)
        if how == "value":
            res.value = e.value + 1
        elif how == "ids":
            res.ids = res.ids[1:]
        elif how == "metric":
            res.metric = "visits" if e.metric != "visits" else "needs"
        if qid in self.share_off:
            res.value = float(e.value) + self.share_off[qid]
        return res


def _rows() -> list[dict[str, Any]]:
    def q(qid: str, split: str, who: str, text: str, expect: Any) -> dict[str, Any]:
        return {"id": qid, "split": split, "as": who, "question": text, "expect": expect}
    return [
        q("a1", "dev", "supervisor", "高龄几户", {"metric": "households", "filters": {"tags": ["高龄"]}}),
        q("a2", "dev", "supervisor", "这个月没上门的", {"metric": "not_visited", "filters": {}, "period": {"kind": "this_month"}}),
        q("a3", "test", "supervisor", "这个月走访几次", {"metric": "visits", "filters": {}, "period": {"kind": "this_month"}}),
        q("a4", "dev", "worker", "我的跟进", {"metric": "open_followups", "filters": {}}),
        q("a5", "test", "supervisor", "入户占比", {"metric": "method_share", "filters": {"method": "入户"}, "period": {"kind": "this_month"}}),
        q("a6", "dev", "supervisor", "入户占比再问一次", {"metric": "method_share", "filters": {"method": "入户"}, "period": {"kind": "this_month"}}),
        q("a7", "test", "supervisor", "紧急没确认", {"metric": "urgent_open", "filters": {}}),
        q("a8", "dev", "supervisor", "诉求几条", {"metric": "needs", "filters": {}, "period": {"kind": "this_month"}}),
        q("d1", "dev", "supervisor", "帮我写个总结", "decline"),
        q("d2", "test", "worker", "今天天气怎么样", "decline"),
        q("d3", "dev", "supervisor", "那户的身份证号", "decline"),
    ]


def _tiny_world(t: Tiny) -> World:
    return World(t.db, t.visits, t.ref, {"supervisor": t.sup, "worker": t.w1}, TODAY)


def test_an_oracle_that_answers_from_the_reference_is_right_everywhere(tiny: Tiny) -> None:
    world, rows = _tiny_world(tiny), _rows()
    report = score(rows, world, ReferenceOracle(world, rows))
    c = report.counts()
    assert c["overall"] == {"n": 11, "right": 11, "declined": 0, "wrong": 0}
    assert c["decline"] == {"n": 3, "right": 3, "declined": 0, "wrong": 0}
    assert report.correct_declines == 3 and report.false_declines == 0 and report.answered_should_decline == 0


def test_the_scorer_counts_false_declines_errors_and_answers_that_should_have_been_declines(tiny: Tiny) -> None:
    world, rows = _tiny_world(tiny), _rows()
    oracle = ReferenceOracle(world, rows, decline={"a1", "a4"}, err={"a2": "ids", "a3": "value", "a8": "metric"},
                             answer={"d2"}, share_off={"a5": 0.004, "a6": -0.02}, boom={"a7"})
    report = score(rows, world, oracle)
    c = report.counts()
    assert c["overall"] == {"n": 11, "right": 3, "declined": 2, "wrong": 6}  # right: a5 (within 0.005), d1, d3
    assert c["households"] == {"n": 1, "right": 0, "declined": 1, "wrong": 0}
    assert c["open_followups"] == {"n": 1, "right": 0, "declined": 1, "wrong": 0}
    assert c["not_visited"]["wrong"] == 1 and c["visits"]["wrong"] == 1 and c["needs"]["wrong"] == 1
    assert c["method_share"] == {"n": 2, "right": 1, "declined": 0, "wrong": 1}
    assert c["urgent_open"] == {"n": 1, "right": 0, "declined": 0, "wrong": 1}  # an exception is wrong
    assert c["decline"] == {"n": 3, "right": 2, "declined": 0, "wrong": 1}
    assert report.false_declines == 2 and report.correct_declines == 2 and report.answered_should_decline == 1
    verdicts = {o.id: o.verdict for o in report.outcomes}
    assert verdicts == {"a1": "declined", "a2": "wrong", "a3": "wrong", "a4": "declined", "a5": "right",
                        "a6": "wrong", "a7": "wrong", "a8": "wrong", "d1": "right", "d2": "wrong", "d3": "right"}
    assert "RuntimeError" in next(o.given for o in report.outcomes if o.id == "a7")

    text = render(report, show_wrong=True)
    assert "这个月没上门的" in text and "诉求几条" in text  # dev questions not right are shown...
    assert "这个月走访几次" not in text and "今天天气怎么样" not in text and "紧急没确认" not in text  # ...test ones never
    assert "a3" not in text and "test 一半的 3 条" in text
    plain = render(report)
    assert "这个月没上门的" not in plain and "overall" in plain


def test_judge_compares_metric_value_and_the_set_of_ids() -> None:
    e = Expected("visits", 2, (5, 7))
    assert judge(e, FakeResult(False, "visits", 2, [7, 5])) == "right"
    assert judge(e, FakeResult(False, "visits", 2.0, [5, 7])) == "right"
    assert judge(e, FakeResult(False, "visits", 2, [5, 7, 7])) == "right"  # a set
    assert judge(e, FakeResult(False, "visits", 2, [5])) == "wrong"
    assert judge(e, FakeResult(False, "visited", 2, [5, 7])) == "wrong"
    assert judge(e, FakeResult(False, "visits", 2.004, [5, 7])) == "wrong"  # only a share has a tolerance
    assert judge(e, FakeResult(True)) == "declined"
    assert judge(None, FakeResult(True)) == "right"
    assert judge(None, FakeResult(False, "visits", 2, [5, 7])) == "wrong"
    s = Expected("method_share", 1 / 3, (1,))
    assert judge(s, FakeResult(False, "method_share", 0.333, [1])) == "right"
    assert judge(s, FakeResult(False, "method_share", 0.34, [1])) == "wrong"
    assert judge(s, FakeResult(False, "method_share", "1/3", [1])) == "wrong"  # type: ignore[arg-type]


# -- the question file, over the demo roster ------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_world() -> Iterator[World]:
    world = build_world()
    yield world
    world.close()


def test_the_question_file_is_well_formed_and_split_as_recorded() -> None:
    rows = load("all")
    assert len(rows) >= 90
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["question"] for r in rows}) == len(rows)
    assert {r["as"] for r in rows} == {"supervisor", "worker"}
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert {r["id"]: r["split"] for r in rows} == assign_splits(rows)
    groups = Counter(group_of(r) for r in rows)
    assert set(groups) == {*METRICS, "decline"}
    assert 18 <= groups["decline"] <= 26
    for g, n in groups.items():
        in_dev = sum(1 for r in rows if group_of(r) == g and r["split"] == "dev")
        assert in_dev == (n + 1) // 2, g
    assert len(load("dev")) + len(load("test")) == len(rows)


def test_the_set_covers_every_metric_period_and_filter_at_least_twice() -> None:
    answerable = [r["expect"] for r in load("all") if r["expect"] != "decline"]
    for e in answerable:
        check_expect(e)
    metrics = Counter(e["metric"] for e in answerable)
    periods = Counter(e["period"]["kind"] for e in answerable if e.get("period"))
    filters = Counter(k for e in answerable for k in e.get("filters", {}))
    assert all(metrics[m] >= 2 for m in METRICS), metrics
    assert all(periods[k] >= 2 for k in PERIOD_KINDS), periods
    for f in ("tags", "juwei", "building", "xiaoqu", "worker", "method", "met", "risk", "need_category",
              "older_than_days", "overdue"):
        assert filters[f] >= 2, f
    # only names the demo roster has
    juwei = {e["filters"]["juwei"] for e in answerable if "juwei" in e["filters"]}
    assert juwei <= {"晨光居委（虚构示例）", "宜川路街道"}
    assert {e["filters"]["worker"] for e in answerable if "worker" in e["filters"]} <= set(DEMO_WORKERS)
    assert {e["filters"]["xiaoqu"] for e in answerable if "xiaoqu" in e["filters"]} <= set(DEMO_XIAOQU)
    assert {e["filters"]["building"] for e in answerable if "building" in e["filters"]} <= {str(i) for i in range(1, 9)}


def test_every_reading_computes_on_the_demo_and_few_are_zero(demo_world: World) -> None:
    assert demo_world.today == EVAL_DAY
    values = []
    for r in load("all"):
        if r["expect"] == "decline":
            continue
        e = demo_world.reference.expected(r["expect"], demo_world.users[r["as"]], demo_world.today)
        values.append(e.value)
        if e.metric != "method_share":
            assert e.value == len(e.ids) or e.metric == "needs", r["id"]
    zeros = sum(1 for v in values if v == 0)
    assert 0 < zeros <= len(values) // 5  # some true zeros, not most
    # the demo's 60 households, each at its own address; 小王 holds every other one
    assert demo_world.reference.expected({"metric": "households"}, demo_world.users["supervisor"], EVAL_DAY).value == 60
    assert demo_world.reference.expected({"metric": "households"}, demo_world.users["worker"], EVAL_DAY).value == 30


def test_run_end_to_end_with_an_oracle_is_all_right_and_hides_test_details() -> None:
    rows = load("all")
    report, text = run("test", show_wrong=True,
                       make_asker=lambda world: ReferenceOracle(world, rows, err={r["id"]: "value" for r in rows}))
    c = report.counts()["overall"]
    n_test_decline = sum(1 for r in rows if r["split"] == "test" and r["expect"] == "decline")
    assert c["n"] == len(load("test")) and c["right"] == n_test_decline and c["wrong"] == c["n"] - n_test_decline
    assert not any(r["question"] in text for r in rows)  # test: totals only
    report, text = run("dev", make_asker=lambda world: ReferenceOracle(world, rows))
    assert report.counts()["overall"]["right"] == len(load("dev"))


# -- the second question set (questions_set2.jsonl, another author's): its format and split rule ---------------

ID_FORMS = {"2": "r{:03d}", "3": "s3-{:03d}"}


@pytest.mark.parametrize("question_set", ["2", "3"])
def test_the_later_sets_are_well_formed_and_split_odd_dev_even_test(question_set: str) -> None:
    path = QUESTIONS_SET2 if question_set == "2" else QUESTIONS_SET3
    form = ID_FORMS[question_set]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = load("all", question_set=question_set)
    assert len(rows) == len(lines) == 80
    assert [r["id"] for r in rows] == [form.format(n) for n in range(1, 81)]
    for r in rows:
        assert set(r) == {"id", "split", "as", "question", "expect"}, r["id"]
        assert r["as"] in ("supervisor", "worker") and isinstance(r["question"], str) and r["question"].strip()
        assert r["expect"] == "decline" or isinstance(r["expect"], dict), r["id"]
    assert {r["id"]: r["split"] for r in rows} == assign_splits_set2(rows)
    assert all(r["split"] == ("dev" if int(r["id"][-3:]) % 2 else "test") for r in rows)
    assert len({r["question"] for r in rows}) == len(rows)
    others = [r for other in ("1", "2", "3") if other != question_set for r in load("all", question_set=other)]
    assert not {r["question"] for r in rows} & {r["question"] for r in others}  # no other set's question again
    assert not {r["id"] for r in rows} & {r["id"] for r in others}
    assert {r["as"] for r in rows} == {"supervisor", "worker"}
    groups = Counter(group_of(r) for r in rows)
    assert set(groups) == {*METRICS, "decline"}
    assert 12 <= groups["decline"] <= 18
    for g, n in groups.items():
        in_dev = sum(1 for r in rows if group_of(r) == g and r["split"] == "dev")
        assert abs(2 * in_dev - n) <= 1, g  # each stratum about half dev
    assert [r["id"] for r in load("dev", question_set=question_set)] == [form.format(n) for n in range(1, 81, 2)]
    assert [r["id"] for r in load("test", question_set=question_set)] == [form.format(n) for n in range(2, 81, 2)]


@pytest.mark.parametrize("question_set", ["2", "3"])
def test_the_later_sets_cover_every_metric_period_and_filter_and_compute_on_the_demo(
        demo_world: World, question_set: str) -> None:
    rows = load("all", question_set=question_set)
    answerable = [r for r in rows if r["expect"] != "decline"]
    for r in answerable:
        check_expect(r["expect"])
    metrics = Counter(r["expect"]["metric"] for r in answerable)
    periods = Counter(r["expect"]["period"]["kind"] for r in answerable if r["expect"].get("period"))
    filters = Counter(k for r in answerable for k in r["expect"].get("filters", {}))
    assert all(metrics[m] >= 2 for m in METRICS), metrics
    assert all(periods[k] >= (2 if question_set == "2" else 1) for k in PERIOD_KINDS), periods  # set 3: each once at least
    for f in ("tags", "juwei", "building", "xiaoqu", "worker", "method", "met", "risk", "need_category",
              "older_than_days", "overdue"):
        assert filters[f] >= 2, f
    for r in answerable:  # every periodic reading names its period (this_month when the question says none)
        e = r["expect"]
        assert ("period" in e) == (e["metric"] in {"visited", "not_visited", "visits", "method_share", "needs"}), r["id"]
    values = []
    for r in answerable:
        e = demo_world.reference.expected(r["expect"], demo_world.users[r["as"]], demo_world.today)
        values.append(e.value)
        if e.metric != "method_share":
            assert e.value == len(e.ids) or e.metric == "needs", r["id"]
    zeros = sum(1 for v in values if v == 0)
    assert 0 < zeros <= len(values) // 5


def test_load_picks_the_sets_and_run_scores_only_the_chosen_half() -> None:
    one, two, three = load("all"), load("all", question_set="2"), load("all", question_set="3")
    assert load("all", question_set="1") == one  # without a set: set 1, as before
    assert load("all", question_set="all") == one + two + three
    assert load("dev", question_set="all") == load("dev") + load("dev", question_set="2") + load("dev", question_set="3")
    with pytest.raises(ValueError):
        load("all", question_set="4")
    rows = one + two
    report, text = run("dev", question_set="2", show_wrong=True,
                       make_asker=lambda world: ReferenceOracle(world, rows, err={r["id"]: "value" for r in rows}))
    dev2 = load("dev", question_set="2")
    assert {o.id for o in report.outcomes} == {r["id"] for r in dev2}
    assert "set=2" in text
    report, text = run("test", question_set="2", show_wrong=True,
                       make_asker=lambda world: ReferenceOracle(world, rows, err={r["id"]: "value" for r in rows}))
    assert {o.id for o in report.outcomes} == {r["id"] for r in load("test", question_set="2")}
    assert not any(r["question"] in text for r in rows)  # test: totals only


def test_the_command_line_scores_both_sets_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.askdata import __main__ as cli

    seen: list[tuple[str, str]] = []

    def fake_run(split: str, database_url: str | None, **kw: Any) -> tuple[None, str]:
        seen.append((split, kw["question_set"]))
        return None, ""

    monkeypatch.setattr(cli, "run", fake_run)
    assert cli.main([]) == 0 and cli.main(["--split", "dev", "--set", "2"]) == 0 and cli.main(["--set", "1"]) == 0
    assert seen == [("dev", "all"), ("dev", "2"), ("dev", "1")]
