"""Search and chat over the shared Assistant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from app.api.deps import AssistantDep
from app.api.schemas import ChatIn, SearchIn, SearchOut

router = APIRouter(prefix="/api")


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, assistant: AssistantDep) -> dict[str, Any]:
    """The k best passages: dense + BM25, fused; filters by type, issuer and date; region ranked."""
    filters = body.filters.to_filters() if body.filters else None
    hits = assistant.search(body.query, body.k, filters=filters, prefer_region=body.prefer_region)
    return {"hits": [h.to_dict() for h in hits]}


@router.post("/chat")
def chat(body: ChatIn, assistant: AssistantDep) -> dict[str, Any]:
    """A short cited answer, or a refusal with the nearest documents."""
    filters = body.filters.to_filters() if body.filters else None
    ans = assistant.chat(body.question, body.history_dicts(), filters=filters, prefer_region=body.prefer_region)
    return ans.to_dict()


@router.post("/chat/stream")
def chat_stream(body: ChatIn, assistant: AssistantDep) -> StreamingResponse:
    """The same answer as server-sent events: ``delta`` pieces, then ``done`` with citations."""
    filters = body.filters.to_filters() if body.filters else None

    def events() -> Iterator[str]:
        for ev in assistant.chat_stream(body.question, body.history_dicts(), filters=filters,
                                        prefer_region=body.prefer_region):
            yield f"data: {json.dumps(ev, ensure_ascii=False)}\n\n"

    return StreamingResponse(iterate_in_threadpool(events()), media_type="text/event-stream")
