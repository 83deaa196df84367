"""The roster (户档案): households, their members, who is assigned to them, cover shares, hand-overs.

Every read and change goes through the caller's :class:`Scope` (a household outside it is
"not found") and into the access log, with ids only. Phone numbers leave masked; a reveal is its
own call, logged as such.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from app.core.errors import ForbiddenError, NotFoundError, ValidationError
from app.rag.regions import RegionTree
from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.tables import household_shares, households, members, users
from app.service.visits.access import Access, AccessLog
from app.service.visits.people import (
    STATUSES,
    address_key,
    address_text,
    clean_id_card,
    clean_phone,
    mask_phone,
    parse_day,
    today,
)
from app.service.visits.scope import Regions, Scope
from app.service.visits.tags import TagBook


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=32)
    relation: str = Field(default="", max_length=16)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str = Field(default="", max_length=32)
    id_card: str = Field(default="", max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=500)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        return clean_phone(v)

    @field_validator("id_card")
    @classmethod
    def _id_card(cls, v: str) -> str:
        return clean_id_card(v)


class HouseholdIn(BaseModel):
    juwei: str = Field(min_length=1, max_length=64)
    xiaoqu: str = Field(default="", max_length=64)
    building: str = Field(default="", max_length=16)
    room: str = Field(default="", max_length=16)
    worker: str = Field(default="", max_length=64, description="assigned worker's username")
    tags: list[str] = Field(default_factory=list, max_length=20)
    status: str = "在住"
    status_on: str = ""
    notes: str = Field(default="", max_length=1000)
    members: list[MemberIn] = Field(default_factory=list, max_length=30)

    @field_validator("status")
    @classmethod
    def _status(cls, v: str) -> str:
        if v not in STATUSES:
            raise ValueError(f"状态只能是 {'、'.join(STATUSES)} 之一")
        return v


@dataclass
class Household:
    row: dict[str, Any]
    people: list[dict[str, Any]]
    worker: str = ""

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def tags(self) -> list[str]:
        return list(json.loads(self.row["tags_json"]))

    def to_dict(self, *, with_members: bool = True) -> dict[str, Any]:
        r = self.row
        out: dict[str, Any] = {
            "id": r["id"], "juwei": r["juwei"], "xiaoqu": r["xiaoqu"], "building": r["building"], "room": r["room"],
            "address": address_text(r["xiaoqu"], r["building"], r["room"]), "worker_id": r["worker_id"],
            "worker": self.worker, "tags": self.tags, "status": r["status"], "status_on": r["status_on"],
            "notes": r["notes"], "last_visit_on": r["last_visit_on"], "last_contact_on": r["last_contact_on"],
            "last_risk": r["last_risk"], "urgent_open": bool(r["urgent_open"]), "demo": bool(r["demo"]),
        }
        if with_members:
            out["members"] = [member_dict(m) for m in self.people]
        return out


def member_dict(m: dict[str, Any]) -> dict[str, Any]:
    year = m["birth_year"]
    return {"id": m["id"], "name": m["name"], "relation": m["relation"], "birth_year": year,
            "age": today().year - year if year else None, "phone": mask_phone(m["phone"]),
            "has_phone": bool(m["phone"]), "tags": json.loads(m["tags_json"]), "notes": m["notes"]}


class Roster:
    def __init__(self, db: ServiceDB, regions: Regions, tags: TagBook, access: AccessLog, *,
                 store_id_card: bool = False) -> None:
        self.db = db
        self.regions = regions
        self.tags = tags
        self.access = access
        self.store_id_card = store_id_card

    # -- scope ----------------------------------------------------------------------------------
    def scope(self, user: User) -> Scope:
        return self.regions.scope_for(user)

    def require_supervisor(self, user: User) -> Scope:
        s = self.scope(user)
        if not s.supervises:
            raise ForbiddenError("只有居委书记/站长或管理员可以做这件事。")
        return s

    def _check_juwei(self, scope: Scope, juwei: str, tree: RegionTree | None = None) -> None:
        tree = tree or self.regions.tree()
        if juwei not in tree:
            raise ValidationError(f"居委“{juwei}”不在地区表中：请管理员先用 `shegong region add` 添加。")
        if not scope.covers_juwei(juwei):
            raise NotFoundError(f"没有居委“{juwei}”（或不在您的管辖范围内）。")

    def _worker_id(self, conn: Connection, username: str, *, active: bool = True) -> int | None:
        """The account's id (None for no name); a disabled account only when ``active`` is false
        (a worker who left still has households to hand over)."""
        if not username.strip():
            return None
        row = conn.execute(select(users.c.id, users.c.disabled).where(users.c.username == username.strip())).first()
        if row is None or (active and row.disabled):
            raise ValidationError(f"没有可用的账号“{username}”。")
        return int(row.id)

    # -- reads ----------------------------------------------------------------------------------
    def _load(self, conn: Connection, scope: Scope, household_id: int) -> Household:
        q = (select(households, users.c.username.label("worker"))
             .join_from(households, users, users.c.id == households.c.worker_id, isouter=True)
             .where(households.c.id == household_id, scope.clause(today())))
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFoundError(f"没有编号为 {household_id} 的户（或不在您的走访范围内）。")
        people = [dict(m) for m in conn.execute(
            select(members).where(members.c.household_id == household_id).order_by(members.c.id)).mappings()]
        data = dict(row)
        worker = data.pop("worker") or ""
        return Household(data, people, worker)

    def get(self, user: User, household_id: int, *, log: bool = True) -> Household:
        scope = self.scope(user)
        with self.db.read() as conn:
            h = self._load(conn, scope, household_id)
        if log:
            self.access.record(user, Access.READ, "household", [household_id])
        return h

    def visible(self, user: User, household_id: int) -> None:
        """NotFoundError unless the household is in the user's scope (nothing logged)."""
        self.get(user, household_id, log=False)

    def search(self, user: User, *, juwei: str = "", worker: str = "", tag: str = "", status: str = "",
             q: str = "", limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        scope = self.scope(user)
        cond = [scope.clause(today())]
        if juwei:
            cond.append(households.c.juwei == juwei)
        if worker:
            cond.append(users.c.username == worker)
        if status:
            cond.append(households.c.status == status)
        if tag:
            cond.append(households.c.tags_json.contains(json.dumps(self.tags.canonical(tag), ensure_ascii=False)))
        if q:
            like = f"%{q.strip()}%"
            in_members = select(members.c.household_id).where(members.c.name.like(like))
            cond.append(or_(households.c.xiaoqu.like(like), households.c.building.like(like),
                            households.c.room.like(like), households.c.id.in_(in_members)))
        base = (select(households, users.c.username.label("worker"))
                .join_from(households, users, users.c.id == households.c.worker_id, isouter=True).where(and_(*cond)))
        with self.db.read() as conn:
            total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
            rows = [dict(r) for r in conn.execute(
                base.order_by(households.c.juwei, households.c.xiaoqu, households.c.building, households.c.room)
                .limit(max(1, min(limit, 500))).offset(max(0, offset))).mappings()]
        out = []
        for r in rows:
            worker_name = r.pop("worker") or ""
            out.append(Household(r, [], worker_name).to_dict(with_members=False))
        self.access.record(user, Access.READ, "household", [r["id"] for r in out], {"list": True, "total": total})
        return total, out

    def reveal_phone(self, user: User, household_id: int, member_id: int) -> str:
        h = self.get(user, household_id, log=False)
        m = next((m for m in h.people if m["id"] == member_id), None)
        if m is None:
            raise NotFoundError(f"这户没有编号为 {member_id} 的成员。")
        self.access.record(user, Access.REVEAL, "member", [household_id], {"member": member_id})
        return str(m["phone"])

    # -- changes --------------------------------------------------------------------------------
    def _values(self, conn: Connection, scope: Scope, data: HouseholdIn,
                tree: RegionTree | None = None) -> dict[str, Any]:
        self._check_juwei(scope, data.juwei, tree)
        if data.status_on:
            parse_day(data.status_on, "状态日期")
        if data.status == "已故" and not data.status_on:
            raise ValidationError("状态为“已故”时请填写日期。")
        return dict(juwei=data.juwei.strip(), xiaoqu=data.xiaoqu.strip(), building=data.building.strip(),
                    room=data.room.strip(), address_key=address_key(data.juwei, data.xiaoqu, data.building, data.room),
                    worker_id=self._worker_id(conn, data.worker),
                    tags_json=json.dumps(self.tags.canonical_list(data.tags), ensure_ascii=False),
                    status=data.status, status_on=data.status_on, notes=data.notes.strip())

    def _write_members(self, conn: Connection, household_id: int, people: list[MemberIn]) -> None:
        conn.execute(delete(members).where(members.c.household_id == household_id))
        for m in people:
            conn.execute(insert(members).values(
                household_id=household_id, name=m.name.strip(), relation=m.relation.strip(), birth_year=m.birth_year,
                phone=m.phone, id_card=m.id_card if self.store_id_card else "",
                tags_json=json.dumps(self.tags.canonical_list(m.tags), ensure_ascii=False), notes=m.notes.strip()))

    def upsert_in(self, conn: Connection, scope: Scope, data: HouseholdIn, *, demo: bool = False,
                  tree: RegionTree | None = None) -> tuple[int, bool]:
        """Insert or update (by address) one household inside a transaction; (id, created)."""
        values = self._values(conn, scope, data, tree)
        now = now_iso()
        existing = conn.execute(select(households.c.id, households.c.juwei)
                                .where(households.c.address_key == values["address_key"])).first()
        if existing is not None:
            hid = int(existing.id)
            conn.execute(update(households).where(households.c.id == hid).values(**values, updated_at=now))
            created = False
        else:
            hid = int(conn.execute(insert(households).values(**values, demo=int(demo), created_at=now, updated_at=now)
                                   .returning(households.c.id)).scalar_one())
            created = True
        self._write_members(conn, hid, data.members)
        return hid, created

    def create(self, user: User, data: HouseholdIn) -> Household:
        scope = self.require_supervisor(user)
        with self.db.tx() as conn:
            key = address_key(data.juwei, data.xiaoqu, data.building, data.room)
            if conn.execute(select(households.c.id).where(households.c.address_key == key)).first():
                raise ValidationError(f"地址“{data.juwei} {address_text(data.xiaoqu, data.building, data.room)}”已有户档案。")
            hid, _ = self.upsert_in(conn, scope, data)
            self.access.record(user, Access.CHANGE, "household", [hid], {"op": "create"}, conn=conn)
        return self.get(user, hid, log=False)

    def update(self, user: User, household_id: int, data: HouseholdIn) -> Household:
        scope = self.require_supervisor(user)
        with self.db.tx() as conn:
            self._load(conn, scope, household_id)
            values = self._values(conn, scope, data)
            clash = conn.execute(select(households.c.id).where(households.c.address_key == values["address_key"],
                                                               households.c.id != household_id)).first()
            if clash:
                raise ValidationError("改后的地址与另一户重复。")
            conn.execute(update(households).where(households.c.id == household_id).values(**values,
                                                                                          updated_at=now_iso()))
            self._write_members(conn, household_id, data.members)
            self.access.record(user, Access.CHANGE, "household", [household_id], {"op": "update"}, conn=conn)
        return self.get(user, household_id, log=False)

    def set_status(self, user: User, household_id: int, status: str, on: str = "") -> Household:
        """A worker may mark their own household 户内无人 or 搬离 etc. after a visit; a date for 已故."""
        if status not in STATUSES:
            raise ValidationError(f"状态只能是 {'、'.join(STATUSES)} 之一。")
        if status == "已故" and not on:
            raise ValidationError("状态为“已故”时请填写日期。")
        day = parse_day(on, "状态日期").isoformat() if on else ""
        scope = self.scope(user)
        with self.db.tx() as conn:
            self._load(conn, scope, household_id)
            conn.execute(update(households).where(households.c.id == household_id)
                         .values(status=status, status_on=day, updated_at=now_iso()))
            self.access.record(user, Access.CHANGE, "household", [household_id], {"op": "status", "status": status},
                               conn=conn)
        return self.get(user, household_id, log=False)

    def assign(self, user: User, household_ids: list[int], worker: str) -> int:
        scope = self.require_supervisor(user)
        with self.db.tx() as conn:
            wid = self._worker_id(conn, worker)
            for hid in household_ids:
                self._load(conn, scope, hid)
            n = conn.execute(update(households).where(households.c.id.in_(household_ids))
                             .values(worker_id=wid, updated_at=now_iso())).rowcount
            self.access.record(user, Access.CHANGE, "household", household_ids, {"op": "assign", "worker_id": wid},
                               conn=conn)
        return int(n)

    def handover(self, user: User, from_worker: str, to_worker: str) -> int:
        """Every household of ``from_worker`` inside the supervisor's scope goes to ``to_worker``."""
        scope = self.require_supervisor(user)
        with self.db.tx() as conn:
            src = self._worker_id(conn, from_worker, active=False)
            dst = self._worker_id(conn, to_worker)
            ids = [int(r.id) for r in conn.execute(select(households.c.id).where(
                households.c.worker_id == src, scope.clause(today())))]
            if ids:
                conn.execute(update(households).where(households.c.id.in_(ids)).values(worker_id=dst,
                                                                                      updated_at=now_iso()))
            self.access.record(user, Access.CHANGE, "household", ids, {"op": "handover", "from": src, "to": dst},
                               conn=conn)
        return len(ids)

    def share(self, user: User, household_id: int, worker: str, until: str = "") -> None:
        """Lend a household to another worker for cover, until a day ('' until revoked)."""
        scope = self.require_supervisor(user)
        day = parse_day(until, "代班截止日期").isoformat() if until else ""
        with self.db.tx() as conn:
            self._load(conn, scope, household_id)
            wid = self._worker_id(conn, worker)
            if wid is None:
                raise ValidationError("请指定代班的社工。")
            conn.execute(delete(household_shares).where(household_shares.c.household_id == household_id,
                                                        household_shares.c.user_id == wid))
            conn.execute(insert(household_shares).values(household_id=household_id, user_id=wid, until=day,
                                                         granted_by=user.id, created_at=now_iso()))
            self.access.record(user, Access.CHANGE, "household", [household_id], {"op": "share", "to": wid,
                                                                                  "until": day}, conn=conn)

    def unshare(self, user: User, household_id: int, worker: str) -> None:
        scope = self.require_supervisor(user)
        with self.db.tx() as conn:
            self._load(conn, scope, household_id)
            wid = self._worker_id(conn, worker)
            conn.execute(delete(household_shares).where(household_shares.c.household_id == household_id,
                                                        household_shares.c.user_id == wid))
            self.access.record(user, Access.CHANGE, "household", [household_id], {"op": "unshare", "to": wid},
                               conn=conn)

    def in_scope_rows(self, conn: Connection, scope: Scope, day: dt.date, extra: Any = None) -> list[dict[str, Any]]:
        """The plan's raw material: every household in scope, with its worker's name."""
        q = (select(households.c.id, households.c.juwei, households.c.xiaoqu, households.c.building,
                    households.c.room, households.c.tags_json, households.c.status, households.c.last_visit_on,
                    households.c.last_contact_on, households.c.last_risk, households.c.urgent_open,
                    households.c.worker_id, households.c.demo, users.c.username.label("worker"))
             .join_from(households, users, users.c.id == households.c.worker_id, isouter=True)
             .where(scope.clause(day)))
        if extra is not None:
            q = q.where(extra)
        return [dict(r) for r in conn.execute(q).mappings()]
