"""Conversations, feedback, the review queue, curated test cases and the audit log.

Questions and answers are stored with resident ID numbers and mobile numbers masked; nothing here
logs question text.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from app.core.errors import NotFoundError, ValidationError
from app.core.text import mask_pii
from app.service.accounts import User
from app.service.audit_actions import Action
from app.service.db import ServiceDB, now_iso


def masked(text: str) -> str:
    return mask_pii(text)[0]


@dataclass
class Message:
    id: int
    conversation_id: str
    question: str
    answer: str
    refused: bool
    mode: str
    citations: list[dict[str, Any]]
    created_at: str
    rating: int | None = None
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class ConversationLog:
    """A worker's conversations and the feedback on each answer.

    With ``retention_days``, conversations older than that are deleted at start and then at most
    once an hour, when a new conversation begins (a server may run for months without a restart).
    """

    def __init__(self, db: ServiceDB, retention_days: int | None = None) -> None:
        self.db = db
        self.retention_days = retention_days
        self._last_purge = 0.0
        self.purged_at_start = self._purge_due()

    def _purge_due(self) -> int:
        if self.retention_days is None or (time.monotonic() - self._last_purge < 3600 and self._last_purge):
            return 0
        self._last_purge = time.monotonic()
        return self.purge_older_than(self.retention_days)

    def start(self, user: User, first_question: str) -> str:
        self._purge_due()
        cid = uuid.uuid4().hex[:16]
        title = masked(first_question.strip().replace("\n", " "))[:40] or "新对话"
        stamp = now_iso()
        self.db.execute(
            "INSERT INTO conversations(id, user_id, title, created_at, updated_at) VALUES (?,?,?,?,?)",
            (cid, user.id, title, stamp, stamp),
        )
        return cid

    def owner(self, conversation_id: str) -> int:
        row = self.db.one("SELECT user_id FROM conversations WHERE id=?", (conversation_id,))
        if row is None:
            raise NotFoundError(f"没有对话 {conversation_id}。")
        return int(row["user_id"])

    def require_owner(self, user: User, conversation_id: str) -> None:
        if self.owner(conversation_id) != user.id:
            raise NotFoundError(f"没有对话 {conversation_id}。")  # not another user's: same answer as missing

    def add(self, user: User, conversation_id: str | None, question: str, answer: dict[str, Any]) -> tuple[str, int]:
        """Store one exchange (masked); starts a conversation when none is given."""
        if conversation_id:
            self.require_owner(user, conversation_id)
        else:
            conversation_id = self.start(user, question)
        cites = [{k: c.get(k) for k in ("n", "doc_id", "title", "chunk_id", "heading", "issuer", "region",
                                        "published")} for c in answer.get("citations", [])]
        stamp = now_iso()
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO messages(conversation_id, question, answer, refused, mode, citations_json, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (conversation_id, masked(question), masked(str(answer.get("answer", ""))),
                 int(bool(answer.get("refused"))), str(answer.get("mode", "")),
                 json.dumps(cites, ensure_ascii=False), stamp),
            )
            db.execute("UPDATE conversations SET updated_at=? WHERE id=?", (stamp, conversation_id))
            if answer.get("refused"):
                db.execute("INSERT OR IGNORE INTO review(message_id, status) VALUES (?, 'open')", (cur.lastrowid,))
        return conversation_id, int(cur.lastrowid or 0)

    def recent(self, user: User, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT c.id, c.title, c.created_at, c.updated_at, COUNT(m.id) AS n FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id WHERE c.user_id=? "
            "GROUP BY c.id ORDER BY c.updated_at DESC, c.created_at DESC LIMIT ?",
            (user.id, limit),
        )
        return [dict(r) for r in rows]

    def messages(self, user: User, conversation_id: str) -> list[Message]:
        self.require_owner(user, conversation_id)
        rows = self.db.query(
            "SELECT m.*, f.rating, f.comment FROM messages m LEFT JOIN feedback f ON f.message_id = m.id "
            "WHERE m.conversation_id=? ORDER BY m.id",
            (conversation_id,),
        )
        return [_message(r) for r in rows]

    def history(self, user: User, conversation_id: str, turns: int = 6) -> list[dict[str, str]]:
        """The last few exchanges as chat history for a follow-up question."""
        out: list[dict[str, str]] = []
        for m in self.messages(user, conversation_id)[-turns:]:
            out += [{"role": "user", "content": m.question}, {"role": "assistant", "content": m.answer}]
        return out

    def feedback(self, user: User, message_id: int, rating: int, comment: str = "") -> None:
        if rating not in (1, -1):
            raise ValidationError("评价只能是 1（有用）或 -1（没用）。")
        if len(comment) > 1000:
            raise ValidationError(f"评价说明太长：{len(comment)} 个字，最多 1000 个字。")
        row = self.db.one(
            "SELECT c.user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id=?",
            (message_id,),
        )
        if row is None or int(row["user_id"]) != user.id:
            raise NotFoundError(f"没有回答 {message_id}。")
        with self.db.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO feedback(message_id, user_id, rating, comment, created_at) VALUES (?,?,?,?,?)",
                (message_id, user.id, rating, masked(comment.strip()), now_iso()),
            )
            if rating < 0:
                db.execute("INSERT OR IGNORE INTO review(message_id, status) VALUES (?, 'open')", (message_id,))

    def purge_older_than(self, days: int) -> int:
        """Retention: delete conversations (and their messages, feedback, review items) older than ``days``."""
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        return self.db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,)).rowcount


def _message(r: Any) -> Message:
    keys = r.keys()
    return Message(
        id=r["id"], conversation_id=r["conversation_id"], question=r["question"], answer=r["answer"],
        refused=bool(r["refused"]), mode=r["mode"], citations=json.loads(r["citations_json"]),
        created_at=r["created_at"], rating=r["rating"] if "rating" in keys else None,
        comment=(r["comment"] or "") if "comment" in keys else "",
    )


class ReviewQueue:
    """Questions that were refused or got 👎, for trainers to fix; curated cases for evaluators."""

    STATUSES = ("open", "fixed", "added", "dismissed")

    def __init__(self, db: ServiceDB, audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit or AuditLog(db)

    def items(self, status: str | None = "open", limit: int = 200) -> list[dict[str, Any]]:
        sql = ("SELECT r.message_id, r.status, r.note, r.resolved_by, r.resolved_at, m.question, m.answer, "
               "m.refused, m.mode, m.citations_json, m.created_at, f.rating, f.comment FROM review r "
               "JOIN messages m ON m.id = r.message_id LEFT JOIN feedback f ON f.message_id = m.id")
        params: tuple[object, ...] = ()
        if status:
            sql += " WHERE r.status=?"
            params = (status,)
        rows = self.db.query(sql + " ORDER BY m.id DESC LIMIT ?", (*params, limit))
        out = []
        for r in rows:
            d = dict(r)
            d["citations"] = json.loads(d.pop("citations_json"))
            d["refused"] = bool(d["refused"])
            d["reason"] = "拒答" if d["refused"] else "点了没用"
            out.append(d)
        return out

    def resolve(self, message_id: int, status: str, by: str, note: str = "") -> None:
        if status not in self.STATUSES[1:]:
            raise ValidationError(f"状态“{status}”无效，只能是 {'、'.join(self.STATUSES[1:])}。")
        cur = self.db.execute(
            "UPDATE review SET status=?, note=?, resolved_by=?, resolved_at=? WHERE message_id=?",
            (status, note.strip()[:1000], by, now_iso(), message_id),
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"待改进列表中没有回答 {message_id}。")
        self.audit.record(by, Action.REVIEW, str(message_id), {"status": status, "note": note.strip()[:200]})

    def add_case(
        self,
        question: str,
        *,
        answerable: bool,
        evidence: list[str],
        answer_keywords: list[str],
        by: str,
        tags: list[str] | None = None,
        message_id: int | None = None,
    ) -> int:
        """Add a question, with its expected evidence, to the curated test set (in the data dir)."""
        if not question.strip():
            raise ValidationError("问题不能为空。")
        evidence = [e.strip() for e in evidence if e.strip()]
        if answerable and not evidence:
            raise ValidationError("可回答的问题必须给出至少一条“应引用的原文”，评测靠它判断检索是否命中。")
        cur = self.db.execute(
            "INSERT INTO curated_cases(question, answerable, evidence_json, answer_keywords_json, tags_json, "
            "source_message_id, added_by, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (masked(question.strip()), int(answerable), json.dumps(evidence, ensure_ascii=False),
             json.dumps([k.strip() for k in answer_keywords if k.strip()], ensure_ascii=False),
             json.dumps(sorted({"curated", *(tags or [])}), ensure_ascii=False), message_id, by, now_iso()),
        )
        if message_id is not None:
            self.db.execute(
                "UPDATE review SET status='added', resolved_by=?, resolved_at=? WHERE message_id=?",
                (by, now_iso(), message_id),
            )
        cid = int(cur.lastrowid or 0)
        self.audit.record(by, Action.ADD_CASE, f"curated-{cid:04d}", {"question_chars": len(question)})
        return cid

    def cases(self) -> list[dict[str, Any]]:
        """The curated cases in the eval test-set format (``eval/harness.py``)."""
        rows = self.db.query("SELECT * FROM curated_cases ORDER BY id")
        return [
            {"id": f"curated-{r['id']:04d}", "question": r["question"], "answerable": bool(r["answerable"]),
             "evidence": json.loads(r["evidence_json"]), "answer_keywords": json.loads(r["answer_keywords_json"]),
             "tags": json.loads(r["tags_json"]), "added_by": r["added_by"], "created_at": r["created_at"]}
            for r in rows
        ]


class AuditLog:
    """Who did what to the knowledge base and the accounts, and when."""

    def __init__(self, db: ServiceDB) -> None:
        self.db = db

    def record(self, actor: str, action: str, target: str, detail: str | dict[str, Any] = "") -> None:
        if isinstance(detail, dict):
            detail = json.dumps(detail, ensure_ascii=False)
        self.db.execute(
            "INSERT INTO audit(at, actor, action, target, detail) VALUES (?,?,?,?,?)",
            (now_iso(), actor, action, target, detail),
        )

    def entries(self, limit: int = 200, target: str | None = None) -> list[dict[str, Any]]:
        if target:
            rows = self.db.query("SELECT * FROM audit WHERE target=? ORDER BY id DESC LIMIT ?", (target, limit))
        else:
            rows = self.db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]
