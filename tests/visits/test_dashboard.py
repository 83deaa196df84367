"""The dashboard's figures on SQLite and PostgreSQL against a small roster whose answers are worked
out by hand below, for a past month (so that a later visit must not count), and its scopes."""

from __future__ import annotations

import pytest

from app.core.errors import ForbiddenError
from app.service.accounts import User
from app.service.dashboard import Dashboard, topics
from app.service.visits.book import FollowupIn, NeedIn, VisitIn
from tests.visits.conftest import JUWEI, World

MONTH = "2026-11"


def _v(w: World, user: User, hid: int, cid: str, on: str, *, method: str = "入户", met: bool = True,
       risk: str = "正常", needs: list[NeedIn] | None = None, fus: list[FollowupIn] | None = None) -> None:
    w.visits.book.save(user, VisitIn(client_id=cid, household_id=hid, visited_on=on, method=method, met=met, risk=risk,
                                     needs=needs or [], followups=fus or []))


@pytest.fixture
def board(world: World) -> tuple[World, Dashboard, dict[str, int]]:
    w = world
    h = {"h1": w.household("1", "w1", ["独居老人"]), "h2": w.household("2", "w1", ["高龄"]),
         "h3": w.household("3", "w2", ["低保"]), "h4": w.household("4", "w1", ["独居老人"]),
         "h5": w.household("5", "w2", ["残疾人"])}
    _v(w, w.w1, h["h1"], "d-h1-00001", "2026-11-20", needs=[NeedIn(category="医疗健康", text="配药")],
       fus=[FollowupIn(item="送药", due_on="2026-11-20")])
    _v(w, w.w1, h["h2"], "d-h2-00001", "2026-10-01")
    _v(w, w.w1, h["h2"], "d-h2-00002", "2026-12-01")  # after the month: not "done" in November
    _v(w, w.w2, h["h3"], "d-h3-00001", "2026-11-25", risk="紧急")
    _v(w, w.w2, h["h3"], "d-h3-00002", "2026-11-28", method="电话")
    _v(w, w.w1, h["h4"], "d-h4-00001", "2026-11-10", method="电话")  # a call is contact, not a home visit
    _v(w, w.w2, h["h5"], "d-h5-00001", "2026-11-15", met=False)  # 未遇 is not a visit done
    return w, Dashboard(w.db, w.visits), h


def test_coverage_overdue_followups_urgent_and_needs(board: tuple[World, Dashboard, dict[str, int]]) -> None:
    w, d, h = board
    s = d.summary(w.sup, month=MONTH)
    cov = {c["tag"]: (c["due"], c["done"]) for c in s["coverage"]}
    assert cov == {"独居老人": (2, 1), "高龄": (1, 0), "低保": (1, 1), "残疾人": (1, 0)}
    assert s["households"] == 5 and s["urgent"] == 1
    ages = {b["bucket"]: b["count"] for b in s["followups"]}
    assert ages["逾期8-14天"] == 1 and sum(ages.values()) == 1  # due 11-20, counted on 11-30
    needs = {n["category"]: n["this_month"] for n in s["needs"]}
    assert needs == {"医疗健康": 1}
    assert s["methods"] == {"入户": 1 + 1, "电话": 2, "入户（未遇）": 1}
    behind = d.households_behind(w.sup, "not_done", tag="独居老人", month=MONTH)
    assert [x["household_id"] for x in behind] == [h["h4"]]
    assert {x["household_id"] for x in d.households_behind(w.sup, "done", month=MONTH)} == {h["h1"], h["h3"]}
    assert "未遇不算已访" in s["definitions"]["coverage"]


def test_each_sees_their_own_scope(board: tuple[World, Dashboard, dict[str, int]]) -> None:
    w, d, h = board
    mine = d.summary(w.w1, month=MONTH)
    assert mine["scope"] == "own" and mine["households"] == 3 and mine["urgent"] == 0
    assert {x["household_id"] for x in d.households_behind(w.w1, "due", month=MONTH)} == {h["h1"], h["h2"], h["h4"]}
    assert d.summary(w.sup_other, month=MONTH)["households"] == 0
    with pytest.raises(ForbiddenError):
        d.summary(w.sup_other, juwei=JUWEI, month=MONTH)
    trainer = w.accounts.add("t1", "a-long-password", role="trainer")
    t = d.summary(trainer, month=MONTH)
    assert t["visits"] is None and "kb" in t


def test_topics_are_grouped_and_never_single_questions() -> None:
    qs = ["低保怎么申请", "低保申请要什么材料", "低保怎么申请呢", "我家邻居王某某的电话是13900001111吗"]
    out = topics(qs)
    assert out and all(t["count"] >= 2 for t in out)
    assert not any("1390000" in t["topic"] or "王某某" in t["topic"] for t in out)


def test_the_figures_export_as_a_workbook(board: tuple[World, Dashboard, dict[str, int]]) -> None:
    import io

    import openpyxl

    from app.service.dashboard import summary_xlsx

    w, d, _ = board
    wb = openpyxl.load_workbook(io.BytesIO(summary_xlsx(d.summary(w.sup, month=MONTH))))
    assert {"走访覆盖", "按社工", "跟进", "诉求", "知识库使用", "口径"} <= set(wb.sheetnames)
    rows = {r[0]: r[1:] for r in wb["走访覆盖"].iter_rows(min_row=2, values_only=True)}
    assert rows["独居老人"][:2] == (2, 1)


def test_this_months_figures_from_the_household_rows_match_the_visits(
        board: tuple[World, Dashboard, dict[str, int]]) -> None:
    """While the month is not over the dashboard reads each household's kept last visit instead of
    the visits; both ways give the same rows (the board has a visit dated this month)."""
    from app.service.dashboard import month_bounds

    w, d, _ = board
    start, end = month_bounds(None)
    for user in (w.sup, w.w1):
        scope = d.scope(user, "")
        own = not scope.supervises
        fast = sorted(d._households(scope, start, end, own, stored=True), key=lambda r: r["id"])
        slow = sorted(d._households(scope, start, end, own, stored=False), key=lambda r: r["id"])
        assert fast == slow and any(r["in_month"] for r in fast) == any(r["in_month"] for r in slow)
