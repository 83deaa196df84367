"""The declared metrics of 问数, computed over the records in the asker's scope.

Each returns a value and the ids behind it (households, visits or follow-ups), with each metric's
口径 in ``DEFINITIONS``. Scope is the visit module's (``Scope.clause``); filters are those a
``Reading`` holds. Counting happens in the database; only the first ``MAX_ITEMS`` records behind a
figure are fetched for the list. Needs are stored as JSON, so a need category is matched in Python
over the visits that hold any needs (the partial index of revision 0002).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, text

from app.service.askdata.grammar import Reading
from app.service.db import ServiceDB
from app.service.tables import followups, households, users, visits
from app.service.visits.people import address_text
from app.service.visits.scope import Regions, Scope

MAX_ITEMS = 200
DEFINITIONS: dict[str, str] = {
    "households": "状态为“在住”、符合条件的户。",
    "visited": "时间段内至少有一次入户并见到人的在住户；电话、微信、未遇都不算。",
    "not_visited": "符合条件的在住户中，时间段内一次入户并见到人的走访都没有的户；电话、微信、未遇都不算走访到。",
    "visits": "时间段内的走访记录条数：入户、电话、微信、其他都算，未遇也算一条（除非问题限定了方式或见到人）。",
    "method_share": "时间段内该方式的走访记录 ÷ 全部走访记录（未遇也计入）。",
    "open_followups": "还没关闭的跟进事项；“提出超过 N 天”从提出它的那次走访算起；“已过期限”指有期限且期限早于今天。",
    "urgent_open": "标为紧急、站长还没确认处理的走访记录。",
    "needs": "时间段内走访记录里登记的诉求条数（一条记录可有几条诉求）。",
}
UNITS = {"households": "户", "visited": "户", "not_visited": "户", "visits": "条", "method_share": "",
         "open_followups": "条", "urgent_open": "条", "needs": "条"}
KINDS = {"households": "household", "visited": "household", "not_visited": "household", "visits": "visit",
         "method_share": "visit", "open_followups": "followup", "urgent_open": "visit", "needs": "visit"}
_PLACE = (households.c.xiaoqu, households.c.building, households.c.room, households.c.juwei, households.c.demo)


@dataclass
class Figure:
    value: int | float
    ids: list[int]
    items: list[dict[str, Any]]


def _place(r: Any) -> dict[str, Any]:
    return {"address": address_text(r["xiaoqu"], r["building"], r["room"]), "juwei": r["juwei"], "demo": bool(r["demo"])}


def _worker(name: str) -> Any:
    return select(users.c.id).where(users.c.username == name)


class Metrics:
    def __init__(self, db: ServiceDB, regions: Regions) -> None:
        self.db = db
        self.regions = regions

    def _household_cond(self, scope: Scope, f: dict[str, Any], today: dt.date, *, on_household: bool) -> Any:
        h = households.c
        cond: list[Any] = [scope.clause(today)]
        if on_household:
            cond.append(h.status == "在住")
        if "juwei" in f:
            cond.append(h.juwei.in_(sorted(self.regions.below(f["juwei"]))))
        if "xiaoqu" in f:
            cond.append(h.xiaoqu == f["xiaoqu"])
        if "building" in f:
            b = f["building"]
            cond.append(h.building.in_([b, *(b + s for s in ("号楼", "号", "幢", "栋", "楼"))]))
        if "worker" in f and on_household:
            cond.append(h.worker_id.in_(_worker(f["worker"])))
        for t in f.get("tags", []):
            cond.append(h.tags_json.like(f"%{json.dumps(t, ensure_ascii=False)}%"))
        return and_(*cond)

    def compute(self, reading: Reading, scope: Scope, today: dt.date) -> Figure:
        m, f = reading.metric, dict(reading.filters)
        where = self._household_cond(scope, f, today, on_household=KINDS[m] == "household")
        with self.db.read() as conn:
            if KINDS[m] == "household":
                return self._households(conn, m, where, reading)
            if m == "open_followups":
                return self._followups(conn, where, f, today)
            return self._visits(conn, m, where, f, reading)

    def _households(self, conn: Any, m: str, where: Any, reading: Reading) -> Figure:
        h = households.c
        ids = [int(x) for (x,) in conn.execute(select(h.id).where(where).order_by(h.id))]
        if m != "households":
            p = reading.period
            assert p is not None
            v = visits.c
            seen = {int(x) for (x,) in conn.execute(
                select(v.household_id).distinct().where(
                    v.method == "入户", v.met == 1, v.visited_on >= p.start.isoformat(), v.visited_on <= p.end.isoformat(),
                    v.household_id.in_(select(h.id).where(where))))}
            ids = [i for i in ids if (i in seen) == (m == "visited")]
        shown = ids[:MAX_ITEMS]
        rows = conn.execute(select(h.id, h.tags_json, *_PLACE).where(h.id.in_(shown))).mappings() if shown else []
        by_id = {int(r["id"]): {"id": int(r["id"]), **_place(r), "tags": json.loads(r["tags_json"])} for r in rows}
        return Figure(len(ids), ids, [by_id[i] for i in shown if i in by_id])

    def _visits(self, conn: Any, m: str, where: Any, f: dict[str, Any], reading: Reading) -> Figure:
        v = visits.c
        cat = f.get("need_category")
        cond: list[Any] = [v.household_id.in_(select(households.c.id).where(where))]
        if m == "urgent_open":
            cond.append(text("visits.risk = '紧急' AND visits.acknowledged_at = ''"))
        else:
            p = reading.period
            assert p is not None
            cond += [v.visited_on >= p.start.isoformat(), v.visited_on <= p.end.isoformat()]
        if m == "needs" or cat:
            cond.append(text("visits.needs_json != '[]'"))
        if "worker" in f:
            cond.append(v.worker_id.in_(_worker(f["worker"])))
        for key in ("met", "risk"):
            if key in f:
                cond.append(getattr(v, key) == f[key])
        if m != "method_share" and "method" in f:
            cond.append(v.method == f["method"])
        if m == "method_share":  # the denominator is counted, only the method's own visits are listed
            total = int(conn.execute(select(func.count()).select_from(visits).where(and_(*cond))).scalar_one())
            cond.append(v.method == f["method"])
        cols = [v.id, v.method] + ([v.needs_json] if m == "needs" or cat else [])
        rows = conn.execute(select(*cols).where(and_(*cond)).order_by(v.visited_on.desc(), v.id.desc())).all()

        def needs_of(needs_json: str) -> int:
            return sum(1 for n in json.loads(needs_json) if not cat or n.get("category") == cat)

        value: int | float
        if m == "method_share":
            ids = [int(r[0]) for r in rows]
            value = round(len(ids) / total, 4) if total else 0.0
        elif m == "needs" or cat:
            counted = [(int(r[0]), needs_of(r[2])) for r in rows]
            counted = [x for x in counted if x[1]]
            ids = [i for i, _ in counted]
            value = sum(n for _, n in counted) if m == "needs" else len(ids)
        else:
            ids = [int(r[0]) for r in rows]
            value = len(ids)
        return Figure(value, ids, self._visit_items(conn, ids[:MAX_ITEMS]))

    @staticmethod
    def _visit_items(conn: Any, ids: list[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        v = visits.c
        rows = conn.execute(select(v.id, v.household_id, v.visited_on, v.method, v.met, v.risk, *_PLACE)
                            .join_from(visits, households, households.c.id == v.household_id)
                            .where(v.id.in_(ids))).mappings()
        by_id = {int(r["id"]): {"id": int(r["id"]), "household_id": r["household_id"], "visited_on": r["visited_on"],
                                "method": r["method"], "met": bool(r["met"]), "risk": r["risk"], **_place(r)}
                 for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    @staticmethod
    def _followups(conn: Any, where: Any, f: dict[str, Any], today: dt.date) -> Figure:
        fc, v = followups.c, visits.c
        q = (select(fc.id).join_from(followups, visits, v.id == fc.visit_id)
             .where(fc.status == "open", fc.household_id.in_(select(households.c.id).where(where))))
        if "worker" in f:
            q = q.where(v.worker_id.in_(_worker(f["worker"])))
        if "older_than_days" in f:  # raised more than N days ago: today - raised > N
            q = q.where(v.visited_on < (today - dt.timedelta(days=int(f["older_than_days"]))).isoformat())
        if f.get("overdue"):
            q = q.where(fc.due_on != "", fc.due_on < today.isoformat())
        ids = [int(x) for (x,) in conn.execute(q.order_by(fc.due_on, fc.id))]
        shown = ids[:MAX_ITEMS]
        items: list[dict[str, Any]] = []
        if shown:
            rows = conn.execute(select(fc.id, fc.household_id, fc.item, fc.due_on, v.visited_on, *_PLACE)
                                .join_from(followups, visits, v.id == fc.visit_id)
                                .join(households, households.c.id == fc.household_id)
                                .where(fc.id.in_(shown))).mappings()
            by_id = {int(r["id"]): {"id": int(r["id"]), "household_id": r["household_id"], "item": r["item"],
                                    "due_on": r["due_on"], "raised_on": r["visited_on"], **_place(r)} for r in rows}
            items = [by_id[i] for i in shown if i in by_id]
        return Figure(len(ids), ids, items)
