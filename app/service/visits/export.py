"""Exports as ``.xlsx``: the roster (户档案) and the follow-up ledger (跟进台账). Supervisors and
admins only; masked by default (names to the surname, phone numbers to 3 + 4 digits); every
export goes into the access log. Text cells that a spreadsheet would run as formulas are
neutralised (``sheets.neutralise``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, select

from app.service.accounts import User
from app.service.db import ServiceDB
from app.service.tables import households, members, users
from app.service.visits.access import Access, AccessLog
from app.service.visits.book import VisitBook
from app.service.visits.people import mask_name, mask_phone, today
from app.service.visits.roster import Roster
from app.service.visits.sheets import write_xlsx

ROSTER_HEADER = ["居委", "小区", "楼", "室", "社工", "标签", "状态", "状态日期", "备注", "姓名", "关系", "出生年份", "电话",
                 "成员标签", "成员备注", "上次入户走访", "上次联系"]
LEDGER_HEADER = ["居委", "地址", "事项", "责任人", "期限", "状态", "逾期天数", "风险", "处理结果", "关闭时间", "社工"]


class Exporter:
    def __init__(self, db: ServiceDB, roster: Roster, book: VisitBook, access: AccessLog) -> None:
        self.db = db
        self.roster = roster
        self.book = book
        self.access = access

    def roster_xlsx(self, user: User, *, masked: bool = True, juwei: str = "") -> tuple[bytes, int]:
        scope = self.roster.require_supervisor(user)
        cond = [scope.clause(today())]
        if juwei:
            cond.append(households.c.juwei == juwei)
        q = (select(households, users.c.username.label("worker"))
             .join_from(households, users, users.c.id == households.c.worker_id, isouter=True)
             .where(and_(*cond)).order_by(households.c.juwei, households.c.xiaoqu, households.c.building,
                                          households.c.room))
        rows: list[list[Any]] = []
        ids: list[int] = []
        with self.db.read() as conn:
            hh = [dict(r) for r in conn.execute(q).mappings()]
            ids = [h["id"] for h in hh]
            people: dict[int, list[dict[str, Any]]] = {}
            for chunk_start in range(0, len(ids), 500):
                part = ids[chunk_start:chunk_start + 500]
                for row in conn.execute(select(members).where(members.c.household_id.in_(part))
                                        .order_by(members.c.id)).mappings():
                    people.setdefault(row["household_id"], []).append(dict(row))
        for h in hh:
            base = [h["juwei"], h["xiaoqu"], h["building"], h["room"], h["worker"] or "",
                    "、".join(json.loads(h["tags_json"])), h["status"], h["status_on"], h["notes"]]
            tail = [h["last_visit_on"], h["last_contact_on"]]
            if not people.get(h["id"]):
                rows.append([*base, "", "", "", "", "", "", *tail])
            for m in people.get(h["id"], []):
                rows.append([*base, mask_name(m["name"]) if masked else m["name"], m["relation"], m["birth_year"] or "",
                             mask_phone(m["phone"]) if masked else m["phone"], "、".join(json.loads(m["tags_json"])),
                             m["notes"], *tail])
        header = ROSTER_HEADER
        if not masked and self.roster.store_id_card:
            header = [*ROSTER_HEADER, "身份证号"]
        data = write_xlsx([("户档案（已脱敏）" if masked else "户档案", header, rows)])
        self.access.record(user, Access.EXPORT, "roster", ids, {"masked": masked, "rows": len(rows)})
        return data, len(rows)

    def ledger_xlsx(self, user: User, *, masked: bool = True, status: str = "all") -> tuple[bytes, int]:
        self.roster.require_supervisor(user)
        items = self.book.followups(user, status=status, limit=2000)
        rows = [[f.get("juwei", ""), f.get("address", ""), f["item"], mask_name(f["owner"]) if masked else f["owner"],
                 f["due_on"], "未关闭" if f["status"] == "open" else "已关闭", f["overdue_days"], f.get("risk", ""),
                 f["close_note"], f["closed_at"], f.get("worker", "")] for f in items]
        data = write_xlsx([("跟进台账", LEDGER_HEADER, rows)])
        self.access.record(user, Access.EXPORT, "followup", [f["id"] for f in items], {"masked": masked})
        return data, len(rows)

