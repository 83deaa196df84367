"""Search and chat over the shared Assistant; exchanges are kept in the user's conversations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from app.api.deps import AssistantDep, ChatUser, StateDep, limit_chat
from app.api.schemas import ChatIn, SearchIn, SearchOut
from app.api.state import AppState
from app.service.accounts import User

router = APIRouter(prefix="/api")


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, assistant: AssistantDep, user: ChatUser) -> dict[str, Any]:
    """The k best passages: dense + BM25, fused; filters by type, issuer and date; region ranked."""
    filters = body.filters.to_filters() if body.filters else None
    hits = assistant.search(body.query, body.k, filters=filters, prefer_region=body.prefer_region or user.region or None)
    return {"hits": [h.to_dict() for h in hits]}


def _history(state: AppState, user: User, body: ChatIn) -> list[dict[str, str]]:
    if body.conversation_id and not body.history:
        return state.conversations.history(user, body.conversation_id)
    if body.conversation_id:
        state.conversations.owner(body.conversation_id)  # 404 for an unknown conversation
    return body.history_dicts()


def _save(state: AppState, user: User, body: ChatIn, answer: dict[str, Any]) -> dict[str, Any]:
    if body.save:
        cid, mid = state.conversations.add(user, body.conversation_id, body.question, answer)
        answer = {**answer, "conversation_id": cid, "message_id": mid}
    return answer


@router.post("/chat")
def chat(body: ChatIn, state: StateDep, user: ChatUser) -> dict[str, Any]:
    """A short cited answer, or a refusal with the nearest documents."""
    limit_chat(state, user)
    history = _history(state, user, body)
    filters = body.filters.to_filters() if body.filters else None
    ans = state.assistant.chat(body.question, history, filters=filters,
                               prefer_region=body.prefer_region or user.region or None)
    return _save(state, user, body, ans.to_dict())


@router.post("/chat/stream")
def chat_stream(body: ChatIn, state: StateDep, user: ChatUser) -> StreamingResponse:
    """The same answer as server-sent events: ``delta`` pieces, then ``done`` with citations."""
    limit_chat(state, user)
    history = _history(state, user, body)
    filters = body.filters.to_filters() if body.filters else None

    def events() -> Iterator[str]:
        for ev in state.assistant.chat_stream(body.question, history, filters=filters,
                                              prefer_region=body.prefer_region or user.region or None):
            if ev["type"] == "done":
                ev = {**ev, "answer": _save(state, user, body, ev["answer"])}
            yield f"data: {json.dumps(ev, ensure_ascii=False)}\n\n"

    return StreamingResponse(iterate_in_threadpool(events()), media_type="text/event-stream")
