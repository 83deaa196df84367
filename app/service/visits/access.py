"""The access log of residents' data: every read, change, reveal, import, export and LLM send, by
whom, with ids rather than names. Append-only (the database itself refuses UPDATE and DELETE, see
revision 0002); only admins read it. The trainers' 操作记录 (``app.service.records.AuditLog``)
stays about the knowledge base.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select

from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.tables import access_log


class Access(StrEnum):
    READ = "read"
    CHANGE = "change"
    REVEAL = "reveal"
    IMPORT = "import"
    EXPORT = "export"
    LLM_SEND = "llm_send"


ACCESS_NAMES = {"read": "查看", "change": "修改", "reveal": "查看完整号码", "import": "导入", "export": "导出",
                "llm_send": "发送给大模型"}


class AccessLog:
    def __init__(self, db: ServiceDB) -> None:
        self.db = db

    def record(self, user: User, action: Access, kind: str, ids: Iterable[int | str] = (),
               detail: dict[str, Any] | None = None, *, conn: Any = None) -> None:
        """One line: ``ids`` are household, visit or follow-up ids (a list is kept short: the first
        200 and a count); ``detail`` must hold no names, addresses or numbers."""
        id_list = [str(i) for i in ids]
        target = ",".join(id_list[:200]) + (f",…(共 {len(id_list)} 个)" if len(id_list) > 200 else "")
        row = dict(at=now_iso(), user_id=user.id, role=user.role, action=str(action), kind=kind, target=target,
                   detail=json.dumps(detail or {}, ensure_ascii=False))
        if conn is not None:
            conn.execute(insert(access_log).values(**row))
            return
        with self.db.tx() as c:
            c.execute(insert(access_log).values(**row))

    def recent(self, limit: int = 200, *, user_id: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
        q = select(access_log).order_by(access_log.c.id.desc()).limit(max(1, min(limit, 5000)))
        if user_id is not None:
            q = q.where(access_log.c.user_id == user_id)
        if action:
            q = q.where(access_log.c.action == action)
        with self.db.read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        for r in rows:
            r["detail"] = json.loads(r["detail"] or "{}")
            r["action_name"] = ACCESS_NAMES.get(r["action"], r["action"])
        return rows

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(access_log)).scalar_one())
