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

from sqlalchemy import delete, func, insert, select, update

from app.core.errors import NotFoundError, ValidationError
from app.core.text import mask_pii
from app.service.accounts import User
from app.service.audit_actions import Action
from app.service.db import ServiceDB, now_iso
from app.service.tables import audit, conversations, curated_cases, feedback, messages, review


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
        with self.db.tx() as conn:
            conn.execute(insert(conversations).values(id=cid, user_id=user.id, title=title, created_at=stamp,
                                                      updated_at=stamp))
        return cid

    def owner(self, conversation_id: str) -> int:
        with self.db.read() as conn:
            uid = conn.execute(select(conversations.c.user_id).where(conversations.c.id == conversation_id)).scalar()
        if uid is None:
            raise NotFoundError(f"没有对话 {conversation_id}。")
        return int(uid)

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
        with self.db.tx() as conn:
            mid = conn.execute(insert(messages).values(
                conversation_id=conversation_id, question=masked(question), answer=masked(str(answer.get("answer", ""))),
                refused=int(bool(answer.get("refused"))), mode=str(answer.get("mode", "")),
                citations_json=json.dumps(cites, ensure_ascii=False), created_at=stamp,
            ).returning(messages.c.id)).scalar_one()
            conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(updated_at=stamp))
            if answer.get("refused"):
                conn.execute(self.db.insert_ignore(review, message_id=mid, status="open"))
        return conversation_id, int(mid)

    def recent(self, user: User, limit: int = 50) -> list[dict[str, Any]]:
        c, m = conversations.c, messages.c
        q = (select(c.id, c.title, c.created_at, c.updated_at, func.count(m.id).label("n"))
             .select_from(conversations.outerjoin(messages, m.conversation_id == c.id))
             .where(c.user_id == user.id).group_by(c.id, c.title, c.created_at, c.updated_at)
             .order_by(c.updated_at.desc(), c.created_at.desc()).limit(limit))
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def messages(self, user: User, conversation_id: str) -> list[Message]:
        self.require_owner(user, conversation_id)
        q = (select(messages, feedback.c.rating, feedback.c.comment)
             .select_from(messages.outerjoin(feedback, feedback.c.message_id == messages.c.id))
             .where(messages.c.conversation_id == conversation_id).order_by(messages.c.id))
        with self.db.read() as conn:
            return [_message(r) for r in conn.execute(q).mappings()]

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
        q = (select(conversations.c.user_id)
             .join_from(messages, conversations, conversations.c.id == messages.c.conversation_id)
             .where(messages.c.id == message_id))
        with self.db.tx() as conn:
            owner = conn.execute(q).scalar()
            if owner is None or int(owner) != user.id:
                raise NotFoundError(f"没有回答 {message_id}。")
            conn.execute(self.db.upsert(feedback, "message_id", message_id=message_id, user_id=user.id, rating=rating,
                                        comment=masked(comment.strip()), created_at=now_iso()))
            if rating < 0:
                conn.execute(self.db.insert_ignore(review, message_id=message_id, status="open"))

    def purge_older_than(self, days: int) -> int:
        """Retention: delete conversations (and their messages, feedback, review items) older than ``days``."""
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        with self.db.tx() as conn:
            return int(conn.execute(delete(conversations).where(conversations.c.updated_at < cutoff)).rowcount)


def _message(r: Any) -> Message:
    return Message(
        id=r["id"], conversation_id=r["conversation_id"], question=r["question"], answer=r["answer"],
        refused=bool(r["refused"]), mode=r["mode"], citations=json.loads(r["citations_json"]),
        created_at=r["created_at"], rating=r.get("rating"), comment=r.get("comment") or "",
    )


class ReviewQueue:
    """Questions that were refused or got 👎, for trainers to fix; curated cases for evaluators."""

    STATUSES = ("open", "fixed", "added", "dismissed")

    def __init__(self, db: ServiceDB, audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit or AuditLog(db)

    def items(self, status: str | None = "open", limit: int = 200) -> list[dict[str, Any]]:
        r, m, f = review.c, messages.c, feedback.c
        q = (select(r.message_id, r.status, r.note, r.resolved_by, r.resolved_at, m.question, m.answer, m.refused,
                    m.mode, m.citations_json, m.created_at, f.rating, f.comment)
             .select_from(review.join(messages, m.id == r.message_id).outerjoin(feedback, f.message_id == m.id))
             .order_by(m.id.desc()).limit(limit))
        if status:
            q = q.where(r.status == status)
        out = []
        with self.db.read() as conn:
            for row in conn.execute(q).mappings():
                d = dict(row)
                d["citations"] = json.loads(d.pop("citations_json"))
                d["refused"] = bool(d["refused"])
                d["reason"] = "拒答" if d["refused"] else "点了没用"
                out.append(d)
        return out

    def resolve(self, message_id: int, status: str, by: str, note: str = "") -> None:
        if status not in self.STATUSES[1:]:
            raise ValidationError(f"状态“{status}”无效，只能是 {'、'.join(self.STATUSES[1:])}。")
        with self.db.tx() as conn:
            n = conn.execute(update(review).where(review.c.message_id == message_id).values(
                status=status, note=note.strip()[:1000], resolved_by=by, resolved_at=now_iso())).rowcount
        if n == 0:
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
        with self.db.tx() as conn:
            cid = conn.execute(insert(curated_cases).values(
                question=masked(question.strip()), answerable=int(answerable),
                evidence_json=json.dumps(evidence, ensure_ascii=False),
                answer_keywords_json=json.dumps([k.strip() for k in answer_keywords if k.strip()], ensure_ascii=False),
                tags_json=json.dumps(sorted({"curated", *(tags or [])}), ensure_ascii=False),
                source_message_id=message_id, added_by=by, created_at=now_iso(),
            ).returning(curated_cases.c.id)).scalar_one()
            if message_id is not None:
                conn.execute(update(review).where(review.c.message_id == message_id).values(
                    status="added", resolved_by=by, resolved_at=now_iso()))
        self.audit.record(by, Action.ADD_CASE, f"curated-{cid:04d}", {"question_chars": len(question)})
        return int(cid)

    def cases(self) -> list[dict[str, Any]]:
        """The curated cases in the eval test-set format (``eval/harness.py``)."""
        with self.db.read() as conn:
            rows = list(conn.execute(select(curated_cases).order_by(curated_cases.c.id)).mappings())
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
        with self.db.tx() as conn:
            conn.execute(insert(audit).values(at=now_iso(), actor=actor, action=action, target=target, detail=detail))

    def entries(self, limit: int = 200, target: str | None = None) -> list[dict[str, Any]]:
        q = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if target:
            q = q.where(audit.c.target == target)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
