"""The review queue, the curated test set and the audit log."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from app.api.deps import AuditorUser, CurrentUser, ReviewerUser, StateDep
from app.api.replies import AuditOut, CaseOut, Ok, ReviewOut
from app.api.schemas import CaseIn, ReviewIn
from app.core.errors import ForbiddenError

router = APIRouter(prefix="/api")


@router.get("/review", response_model=ReviewOut)
def review_items(user: ReviewerUser, state: StateDep, status: str | None = "open") -> dict[str, Any]:
    """Questions that were refused or got 👎, with the answer that was given."""
    return {"items": state.review.items(status or None)}


@router.post("/review/{message_id}", response_model=Ok)
def resolve(message_id: int, body: ReviewIn, user: ReviewerUser, state: StateDep) -> dict[str, bool]:
    """Mark a review item fixed, added to the test set, or dismissed."""
    state.review.resolve(message_id, body.status, user.username, body.note)
    return {"ok": True}


@router.post("/cases", response_model=CaseOut)
def add_case(body: CaseIn, user: ReviewerUser, state: StateDep) -> dict[str, Any]:
    """Add a question and its expected evidence to the curated test set (in the data dir)."""
    cid = state.review.add_case(body.question, answerable=body.answerable, evidence=body.evidence,
                                answer_keywords=body.answer_keywords, tags=body.tags, by=user.username,
                                message_id=body.message_id)
    return {"id": f"curated-{cid:04d}"}


@router.get("/cases", response_class=PlainTextResponse)
def export_cases(user: CurrentUser, state: StateDep) -> str:
    """The curated test set as JSONL (the eval format), for trainers and evaluators."""
    if not (user.can("review") or user.can("evaluate")):
        raise ForbiddenError("当前账号没有查看评测集的权限。")
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in state.review.cases())


@router.get("/audit", response_model=AuditOut)
def audit(user: AuditorUser, state: StateDep, target: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Who uploaded, replaced, deleted or edited what, and when (newest first)."""
    return {"entries": state.audit.entries(min(max(limit, 1), 1000), target)}
