"""Search and chat over the shared Assistant, through the one chat service (``app/service/chat.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import AssistantDep, ChatUser, StateDep
from app.api.replies import AnswerOut, SearchOut
from app.api.schemas import ChatIn, SearchIn
from app.service.chat import ChatRequest, ChatTurn

router = APIRouter(prefix="/api")


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, assistant: AssistantDep, user: ChatUser) -> dict[str, Any]:
    """The k best passages: dense + BM25, fused; filters by type, issuer and date; region ranked."""
    filters = body.filters.to_filters() if body.filters else None
    hits = assistant.search(body.query, body.k, filters=filters, prefer_region=body.prefer_region or user.region or None)
    return {"hits": [h.to_dict() for h in hits]}


def open_turn(body: ChatIn, state: StateDep, user: ChatUser) -> ChatTurn:
    """The chat service's checks (limit, history, owner), run before any answer is sent."""
    return state.chat.open(user, ChatRequest(
        body.question, history=body.history_dicts() or None, conversation_id=body.conversation_id,
        filters=body.filters.to_filters() if body.filters else None, prefer_region=body.prefer_region,
        save=body.save,
    ))


TurnDep = Annotated[ChatTurn, Depends(open_turn)]


@router.post("/chat", response_model=AnswerOut)
def chat(turn: TurnDep) -> dict[str, Any]:
    """A short cited answer, or a refusal with the nearest documents."""
    return turn.answer()


@router.post("/chat/stream", response_class=EventSourceResponse)
def chat_stream(turn: TurnDep) -> Iterator[ServerSentEvent]:
    """The same answer as server-sent events: ``delta`` pieces (``reset`` replaces what was sent),
    then ``done`` with the whole answer as ``/api/chat`` gives it."""
    for ev in turn.events():
        yield ServerSentEvent(raw_data=json.dumps(ev, ensure_ascii=False))
