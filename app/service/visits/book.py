"""Visit records (走访记录) and their follow-ups (跟进台账).

A save carries the phone's own ``client_id``: a retried save (weak signal, a reload, the outbox
sending again) returns the visit already saved instead of making a second one. Typed text is
stored with ID and mobile numbers masked. A 紧急 record marks its household at once, so it heads
the supervisor's view until a supervisor acknowledges it (closing its follow-ups does too).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Connection, and_, delete, exists, func, insert, select, update

from app.core.errors import ForbiddenError, NotFoundError, ValidationError
from app.core.text import mask_pii
from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.tables import followups, households, users, visits
from app.service.visits.access import Access, AccessLog
from app.service.visits.people import METHODS, NEED_CATEGORIES, RISKS, address_text, parse_day, today
from app.service.visits.roster import Roster

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def _masked(text: str) -> str:
    return mask_pii(text)[0].strip()


class NeedIn(BaseModel):
    category: str = "其他"
    text: str = Field(default="", max_length=300)

    @field_validator("category")
    @classmethod
    def _cat(cls, v: str) -> str:
        if v not in NEED_CATEGORIES:
            raise ValueError(f"诉求类别只能是 {'、'.join(NEED_CATEGORIES)} 之一")
        return v


class FollowupIn(BaseModel):
    item: str = Field(min_length=1, max_length=300)
    owner: str = Field(default="", max_length=64)
    due_on: str = ""

    @field_validator("due_on")
    @classmethod
    def _due(cls, v: str) -> str:
        return parse_day(v, "跟进期限").isoformat() if v.strip() else ""


class VisitIn(BaseModel):
    client_id: str = Field(description="the phone's key for this record; a retried save with it is one visit")
    household_id: int
    visited_on: str
    method: str = "入户"
    met: bool = True
    checklist: dict[str, bool] = Field(default_factory=dict, max_length=40)
    needs: list[NeedIn] = Field(default_factory=list, max_length=20)
    risk: str = "正常"
    risk_signs: list[str] = Field(default_factory=list, max_length=20)
    followups: list[FollowupIn] = Field(default_factory=list, max_length=20)
    referral: str = Field(default="", max_length=200)
    notes: str = Field(default="", max_length=5000)

    @field_validator("client_id")
    @classmethod
    def _cid(cls, v: str) -> str:
        if not _CLIENT_ID.match(v):
            raise ValueError("client_id 应为 8 到 64 位字母、数字或 -_.:")
        return v

    @field_validator("visited_on")
    @classmethod
    def _day(cls, v: str) -> str:
        d = parse_day(v, "走访日期")
        if d > today() + dt.timedelta(days=1):
            raise ValueError("走访日期不能晚于今天")
        return d.isoformat()

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v not in METHODS:
            raise ValueError(f"走访方式只能是 {'、'.join(METHODS)} 之一")
        return v

    @field_validator("risk")
    @classmethod
    def _risk(cls, v: str) -> str:
        if v not in RISKS:
            raise ValueError(f"风险等级只能是 {'、'.join(RISKS)} 之一")
        return v


def visit_dict(r: dict[str, Any], items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {
        "id": r["id"], "client_id": r["client_id"], "household_id": r["household_id"], "worker_id": r["worker_id"],
        "worker": r.get("worker") or "", "visited_on": r["visited_on"], "method": r["method"], "met": bool(r["met"]),
        "checklist": json.loads(r["checklist_json"]), "needs": json.loads(r["needs_json"]), "risk": r["risk"],
        "risk_signs": json.loads(r["risk_signs_json"]), "referral": r["referral"], "notes": r["notes"],
        "acknowledged": bool(r["acknowledged_at"]), "demo": bool(r["demo"]), "created_at": r["created_at"],
    }
    if items is not None:
        out["followups"] = items
    return out


def followup_dict(r: dict[str, Any], day: dt.date | None = None) -> dict[str, Any]:
    day = day or today()
    overdue = 0
    if r["status"] == "open" and r["due_on"]:
        overdue = max(0, (day - dt.date.fromisoformat(r["due_on"])).days)
    out = {"id": r["id"], "visit_id": r["visit_id"], "household_id": r["household_id"], "item": r["item"],
           "owner": r["owner"], "due_on": r["due_on"], "status": r["status"], "overdue_days": overdue,
           "close_note": r["close_note"], "closed_at": r["closed_at"], "created_at": r["created_at"]}
    for extra in ("address", "juwei", "risk", "worker"):
        if extra in r:
            out[extra] = r[extra]
    return out


class VisitBook:
    def __init__(self, db: ServiceDB, roster: Roster, access: AccessLog, *, retention_days: int | None = None) -> None:
        self.db = db
        self.roster = roster
        self.access = access
        self.retention_days = retention_days
        self.purged_at_start = self.purge()

    def purge(self) -> int:
        """Visit records older than the retention setting, with their follow-ups."""
        if not self.retention_days:
            return 0
        cutoff = (today() - dt.timedelta(days=self.retention_days)).isoformat()
        with self.db.tx() as conn:
            return int(conn.execute(delete(visits).where(visits.c.visited_on < cutoff)).rowcount)

    # -- saving ---------------------------------------------------------------------------------
    def save(self, user: User, v: VisitIn, *, demo: bool = False) -> tuple[dict[str, Any], bool]:
        """(the visit, created): a second save with the same ``client_id`` returns the first."""
        scope = self.roster.scope(user)
        with self.db.tx() as conn:
            old = conn.execute(select(visits).where(visits.c.client_id == v.client_id)).mappings().first()
            if old is not None:
                if old["household_id"] != v.household_id or old["worker_id"] != user.id:
                    raise ValidationError("这条记录的 client_id 已被另一条走访记录使用，请刷新后重新填写。")
                return self._one(conn, int(old["id"])), False
            h = self.roster._load(conn, scope, v.household_id)
            checklist = {k[:100]: bool(x) for k, x in v.checklist.items()}
            vid = int(conn.execute(insert(visits).values(
                client_id=v.client_id, household_id=v.household_id, worker_id=user.id, visited_on=v.visited_on,
                method=v.method, met=int(v.met), checklist_json=json.dumps(checklist, ensure_ascii=False),
                needs_json=json.dumps([{"category": n.category, "text": _masked(n.text)} for n in v.needs],
                                      ensure_ascii=False),
                risk=v.risk, risk_signs_json=json.dumps(v.risk_signs[:20], ensure_ascii=False),
                referral=_masked(v.referral), notes=_masked(v.notes), demo=int(demo),
                created_at=now_iso()).returning(visits.c.id)).scalar_one())
            for f in v.followups:
                conn.execute(insert(followups).values(visit_id=vid, household_id=v.household_id, item=_masked(f.item),
                                                      owner=f.owner.strip() or user.username, due_on=f.due_on,
                                                      created_at=now_iso()))
            self._refresh_household(conn, h.id)
            self.access.record(user, Access.CHANGE, "visit", [vid], {"household": h.id, "op": "create",
                                                                     "risk": v.risk}, conn=conn)
            return self._one(conn, vid), True

    def _refresh_household(self, conn: Connection, household_id: int) -> None:
        """Keep the household's last visit, last contact, last risk and urgent flag from its visits."""
        hv = visits.c
        last_visit = conn.execute(select(func.max(hv.visited_on)).where(
            hv.household_id == household_id, hv.met == 1, hv.method == "入户")).scalar_one()
        last_contact = conn.execute(select(func.max(hv.visited_on)).where(
            hv.household_id == household_id, hv.met == 1)).scalar_one()
        last_risk = conn.execute(select(hv.risk).where(hv.household_id == household_id)
                                 .order_by(hv.visited_on.desc(), hv.id.desc()).limit(1)).scalar_one_or_none()
        urgent = conn.execute(select(exists().where(hv.household_id == household_id, hv.risk == "紧急",
                                                    hv.acknowledged_at == ""))).scalar_one()
        conn.execute(update(households).where(households.c.id == household_id).values(
            last_visit_on=last_visit or "", last_contact_on=last_contact or "", last_risk=last_risk or "正常",
            urgent_open=int(bool(urgent)), updated_at=now_iso()))

    # -- reading --------------------------------------------------------------------------------
    def _items(self, conn: Connection, where: Any) -> list[dict[str, Any]]:
        return [followup_dict(dict(r)) for r in conn.execute(
            select(followups).where(where).order_by(followups.c.id)).mappings()]

    def _one(self, conn: Connection, vid: int) -> dict[str, Any]:
        r = conn.execute(select(visits, users.c.username.label("worker"))
                         .join_from(visits, users, users.c.id == visits.c.worker_id, isouter=True)
                         .where(visits.c.id == vid)).mappings().one()
        return visit_dict(dict(r), self._items(conn, followups.c.visit_id == vid))

    def _visit_household(self, conn: Connection, scope: Any, visit_id: int) -> int:
        """The household of a visit the caller may see; "not found" for any other visit."""
        hid = conn.execute(select(visits.c.household_id).where(visits.c.id == visit_id)).scalar_one_or_none()
        try:
            if hid is None:
                raise NotFoundError("")
            self.roster._load(conn, scope, int(hid))
        except NotFoundError:
            raise NotFoundError(f"没有编号为 {visit_id} 的走访记录。") from None
        return int(hid)

    def get(self, user: User, visit_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            self._visit_household(conn, self.roster.scope(user), visit_id)
            out = self._one(conn, visit_id)
        self.access.record(user, Access.READ, "visit", [visit_id])
        return out

    def for_household(self, user: User, household_id: int, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            self.roster._load(conn, self.roster.scope(user), household_id)
            rows = conn.execute(select(visits, users.c.username.label("worker"))
                                .join_from(visits, users, users.c.id == visits.c.worker_id, isouter=True)
                                .where(visits.c.household_id == household_id)
                                .order_by(visits.c.visited_on.desc(), visits.c.id.desc()).limit(limit)).mappings()
            out = [visit_dict(dict(r), self._items(conn, followups.c.visit_id == r["id"])) for r in rows]
        self.access.record(user, Access.READ, "visit", [v["id"] for v in out], {"household": household_id})
        return out

    def timeline(self, user: User, household_id: int) -> list[dict[str, Any]]:
        """A household's visits and follow-ups (made and closed) in time order, newest first."""
        events: list[dict[str, Any]] = []
        for v in self.for_household(user, household_id, limit=200):
            events.append({"on": v["visited_on"], "kind": "visit", "visit": v})
            for f in v["followups"]:
                events.append({"on": f["created_at"][:10], "kind": "followup_opened", "followup": f})
                if f["status"] == "closed":
                    events.append({"on": f["closed_at"][:10], "kind": "followup_closed", "followup": f})
        events.sort(key=lambda e: (e["on"], e["kind"] != "visit"), reverse=True)
        return events

    def followups(self, user: User, *, status: str = "open", juwei: str = "", household_id: int | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
        """Follow-ups in scope; open ones overdue first, then by due date (no date last)."""
        scope = self.roster.scope(user)
        day = today()
        cond = [scope.clause(day)]
        if status in ("open", "closed"):
            cond.append(followups.c.status == status)
        if juwei:
            cond.append(households.c.juwei == juwei)
        if household_id is not None:
            cond.append(followups.c.household_id == household_id)
        q = (select(followups, households.c.juwei, households.c.xiaoqu, households.c.building, households.c.room,
                    visits.c.risk, users.c.username.label("worker"))
             .join_from(followups, households, households.c.id == followups.c.household_id)
             .join(visits, visits.c.id == followups.c.visit_id)
             .join(users, users.c.id == households.c.worker_id, isouter=True)
             .where(and_(*cond)).limit(max(1, min(limit, 2000))))
        with self.db.read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        for r in rows:
            r["address"] = address_text(r.pop("xiaoqu"), r.pop("building"), r.pop("room"))
        items = [followup_dict(r, day) for r in rows]
        items.sort(key=lambda f: (f["status"] != "open", f.get("risk") != "紧急", -f["overdue_days"],
                                  f["due_on"] or "9999", f["id"]))
        self.access.record(user, Access.READ, "followup", [f["id"] for f in items], {"list": True})
        return items

    def close_followup(self, user: User, followup_id: int, note: str) -> dict[str, Any]:
        scope = self.roster.scope(user)
        note = _masked(note)[:1000]
        if not note:
            raise ValidationError("关闭跟进事项时请写一句处理结果。")
        with self.db.tx() as conn:
            row = conn.execute(select(followups).where(followups.c.id == followup_id)).mappings().first()
            if row is None:
                raise NotFoundError(f"没有编号为 {followup_id} 的跟进事项。")
            try:
                self.roster._load(conn, scope, int(row["household_id"]))
            except NotFoundError:
                raise NotFoundError(f"没有编号为 {followup_id} 的跟进事项。") from None
            if row["status"] == "closed":
                raise ValidationError("这项跟进已经关闭了。")
            conn.execute(update(followups).where(followups.c.id == followup_id).values(
                status="closed", close_note=note, closed_by=user.id, closed_at=now_iso()))
            if scope.supervises:
                self._acknowledge_in(conn, user, int(row["visit_id"]))
            self.access.record(user, Access.CHANGE, "followup", [followup_id], {"op": "close"}, conn=conn)
            out = followup_dict(dict(conn.execute(select(followups).where(followups.c.id == followup_id))
                                     .mappings().one()))
        return out

    def _acknowledge_in(self, conn: Connection, user: User, visit_id: int) -> None:
        hid = conn.execute(update(visits).where(visits.c.id == visit_id, visits.c.risk == "紧急",
                                                visits.c.acknowledged_at == "")
                           .values(acknowledged_by=user.id, acknowledged_at=now_iso())
                           .returning(visits.c.household_id)).scalar_one_or_none()
        if hid is not None:
            self._refresh_household(conn, int(hid))

    def acknowledge(self, user: User, visit_id: int) -> dict[str, Any]:
        """A supervisor has seen an urgent record and acted: it leaves the top of the view."""
        scope = self.roster.scope(user)
        if not scope.supervises:
            raise ForbiddenError("只有居委书记/站长或管理员可以确认紧急记录已处理。")
        with self.db.tx() as conn:
            self._visit_household(conn, scope, visit_id)
            self._acknowledge_in(conn, user, visit_id)
            self.access.record(user, Access.CHANGE, "visit", [visit_id], {"op": "acknowledge"}, conn=conn)
            return self._one(conn, visit_id)

    def urgent(self, user: User, limit: int = 100) -> list[dict[str, Any]]:
        """Urgent records not yet acknowledged, in scope, newest first."""
        scope = self.roster.scope(user)
        q = (select(visits, users.c.username.label("worker"), households.c.juwei, households.c.xiaoqu,
                    households.c.building, households.c.room)
             .join_from(visits, households, households.c.id == visits.c.household_id)
             .join(users, users.c.id == visits.c.worker_id, isouter=True)
             .where(visits.c.risk == "紧急", visits.c.acknowledged_at == "", scope.clause(today()))
             .order_by(visits.c.visited_on.desc(), visits.c.id.desc()).limit(limit))
        with self.db.read() as conn:
            out = []
            for r in conn.execute(q).mappings():
                d = visit_dict(dict(r))
                d["address"] = address_text(r["xiaoqu"], r["building"], r["room"])
                d["juwei"] = r["juwei"]
                out.append(d)
        self.access.record(user, Access.READ, "visit", [v["id"] for v in out], {"urgent": True})
        return out
