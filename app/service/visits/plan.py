"""The visit plan (走访计划): which households are due today and this week, in priority order, with
the reason in words ("独居老人，距上次走访 12 天").

A household is due when the time since its last 入户 visit that met someone passes the shortest
``visit_days`` of its tags, or the time since any contact (电话, 微信 too) passes the shortest
``contact_days``. Records marked 紧急 and not yet acknowledged come first; then the most overdue,
then the tags' priority. With the extreme-weather switch on, every household with a chosen tag is
due today. Only households 在住 are planned. Days are Asia/Shanghai days.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.core.database import upsert
from app.core.errors import ValidationError
from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.tables import household_shares, households, users, visit_flags
from app.service.visits.access import Access, AccessLog
from app.service.visits.people import address_text, today
from app.service.visits.roster import Roster
from app.service.visits.tags import TagBook

WEATHER_FLAG = "extreme_weather"


@dataclass(frozen=True)
class Due:
    household_id: int
    due_on: dt.date
    kind: str  # 入户 or 联系
    reason: str
    overdue_days: int
    urgent: bool
    priority: int


_Intervals = tuple[list[str], int, int, str, tuple[int, str] | None, str]
_INTERVALS: dict[tuple[int, str], _Intervals] = {}


def _intervals(tags_json: str, tags: TagBook) -> _Intervals:
    """What a household's tags ask for, once per distinct tag list and tag book (a roster has few)."""
    key = (id(tags), tags_json)
    hit = _INTERVALS.get(key)
    if hit is None:
        if len(_INTERVALS) > 10_000:
            _INTERVALS.clear()
        hit = _INTERVALS[key] = _compute_intervals(tags_json, tags)
    return hit


def _compute_intervals(tags_json: str, tags: TagBook) -> _Intervals:
    names = [t for t in json.loads(tags_json) if t in tags]
    known = [tags.get(t) for t in names]
    prio = max((t.priority for t in known), default=0)
    visit = [(t.visit_days, t.name) for t in known if t.visit_days]
    contact = [(t.contact_days, t.name) for t in known if t.contact_days]
    visit_days, visit_tag = min(visit) if visit else (tags.default_visit_days, "")
    label = "、".join(names[:2]) if names else "常规走访"
    return names, prio, visit_days, visit_tag, min(contact) if contact else None, label


def tag_names(tags_json: str, tags: TagBook) -> list[str]:
    """A household's known tags, parsed once per distinct tag set (a roster has few)."""
    return _intervals(tags_json, tags)[0]


def due_of(row: dict[str, Any], tags: TagBook, day: dt.date, weather: set[str]) -> Due:
    """When a household is next due and why."""
    names, prio, visit_days, visit_tag, contact_rule, label = _intervals(row["tags_json"], tags)
    urgent = bool(row["urgent_open"])
    candidates: list[tuple[dt.date, str, str]] = []
    if row["last_visit_on"]:
        last = dt.date.fromisoformat(row["last_visit_on"])
        gap = (day - last).days
        candidates.append((last + dt.timedelta(days=visit_days), "入户",
                           f"{visit_tag or label}，距上次入户走访 {gap} 天（建议每 {visit_days} 天一次）"))
    else:
        candidates.append((day, "入户", f"{label}，尚无入户走访记录"))
    if contact_rule:
        contact_days, contact_tag = contact_rule
        if row["last_contact_on"]:
            last_c = dt.date.fromisoformat(row["last_contact_on"])
            gap = (day - last_c).days
            candidates.append((last_c + dt.timedelta(days=contact_days), "联系",
                               f"{contact_tag}，距上次联系 {gap} 天（建议每 {contact_days} 天联系一次）"))
    due_on, kind, reason = min(candidates, key=lambda c: c[0])
    hit = [n for n in names if n in weather]
    if hit and due_on > day:
        due_on, kind, reason = day, "联系", f"极端天气关爱：{'、'.join(hit)}，请今天联系"
    elif hit:
        reason += "；极端天气关爱"
    if urgent:
        reason = "有未处理的紧急记录；" + reason
        due_on = min(due_on, day)
    return Due(int(row["id"]), due_on, kind, reason, max(0, (day - due_on).days), urgent, prio)


class Planner:
    def __init__(self, db: ServiceDB, roster: Roster, tags: TagBook, access: AccessLog) -> None:
        self.db = db
        self.roster = roster
        self.tags = tags
        self.access = access

    # -- extreme weather --------------------------------------------------------------------------
    def weather(self) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(visit_flags).where(visit_flags.c.key == WEATHER_FLAG)).mappings().first()
        if row is None:
            return {"on": False, "tags": [], "note": "", "until": ""}
        value = json.loads(row["value_json"])
        if value.get("until") and value["until"] < today().isoformat():
            value["on"] = False
        return value

    def set_weather(self, user: User, *, on: bool, tags: list[str] | None = None, note: str = "",
                    until: str = "") -> dict[str, Any]:
        self.roster.require_supervisor(user)
        chosen = self.tags.canonical_list(tags) if tags else [t.name for t in self.tags.tags if t.weather]
        if on and not chosen:
            raise ValidationError("请至少选择一个标签。")
        value = {"on": on, "tags": chosen if on else [], "note": note.strip()[:100], "until": until[:10]}
        with self.db.tx() as conn:
            conn.execute(upsert(self.db.engine, visit_flags, "key", key=WEATHER_FLAG,
                                value_json=json.dumps(value, ensure_ascii=False), updated_by=user.id,
                                updated_at=now_iso()))
        return value

    # -- the plan -------------------------------------------------------------------------------
    def plan(self, user: User, *, mine: bool | None = None, worker: str = "", day: dt.date | None = None,
             limit: int = 300) -> dict[str, Any]:
        """Due and overdue households: a worker's own (assigned or lent), or for a supervisor or
        admin their region's, by worker (``mine`` gives a supervisor their own list)."""
        day = day or today()
        week_end = day + dt.timedelta(days=6 - day.weekday())
        scope = self.roster.scope(user)
        own_only = (not scope.supervises) if mine is None else mine
        extra = None
        if own_only:
            shared = select(household_shares.c.household_id).where(
                household_shares.c.user_id == user.id,
                (household_shares.c.until == "") | (household_shares.c.until >= day.isoformat()))
            extra = (households.c.worker_id == user.id) | households.c.id.in_(shared)
        weather = self.weather()
        chosen = set(weather["tags"]) if weather.get("on") else set()
        with self.db.read() as conn:
            cond = households.c.status == "在住"
            if worker:
                cond = cond & (users.c.username == worker)
            rows = self.roster.in_scope_rows(conn, scope, day, cond if extra is None else cond & extra)
        items = []
        for r in rows:
            d = due_of(r, self.tags, day, chosen)
            if d.due_on > week_end:
                continue
            items.append({
                "household_id": d.household_id, "juwei": r["juwei"],
                "address": address_text(r["xiaoqu"], r["building"], r["room"]), "worker": r["worker"] or "",
                "tags": json.loads(r["tags_json"]), "due_on": d.due_on.isoformat(), "kind": d.kind,
                "reason": d.reason, "overdue_days": d.overdue_days, "urgent": d.urgent,
                "when": "今天" if d.due_on <= day else "本周", "last_risk": r["last_risk"], "demo": bool(r["demo"]),
                "_prio": d.priority,
            })
        items.sort(key=lambda x: (not x["urgent"], x["when"] != "今天", -x["overdue_days"], -x["_prio"],
                                  x["due_on"], x["household_id"]))
        for x in items:
            x.pop("_prio")
        by_worker: dict[str, dict[str, int]] = {}
        for x in items:
            w = by_worker.setdefault(x["worker"] or "（未分配）", {"today": 0, "week": 0, "overdue": 0, "urgent": 0})
            w["today" if x["when"] == "今天" else "week"] += 1
            w["overdue"] += int(x["overdue_days"] > 0)
            w["urgent"] += int(x["urgent"])
        shown = items[:limit]
        self.access.record(user, Access.READ, "plan", [x["household_id"] for x in shown],
                           {"own": own_only, "total": len(items)})
        return {
            "day": day.isoformat(), "week_end": week_end.isoformat(), "own": own_only,
            "today": [x for x in shown if x["when"] == "今天"], "week": [x for x in shown if x["when"] == "本周"],
            "total": len(items), "by_worker": [{"worker": k, **v} for k, v in sorted(by_worker.items())],
            "weather": weather,
        }
