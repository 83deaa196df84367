"""An OpenAI-compatible ``/v1/chat/completions``, so existing chat clients can use the assistant.

The reply's text ends with the numbered sources; the full answer (citations, refusal, timings) is
also in the non-standard ``shegong`` field.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool

from app.api.deps import ChatUser, StateDep
from app.api.replies import AnswerOut
from app.core.errors import ValidationError
from app.rag.assistant import MAX_QUESTION_CHARS
from app.service.chat import ChatRequest

router = APIRouter(prefix="/v1")
MODEL = "shegong"


class OAMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class OAChatIn(BaseModel):
    model: str = MODEL
    messages: list[OAMessage] = Field(min_length=1, max_length=60)
    stream: bool = False


def _split(body: OAChatIn) -> tuple[str, list[dict[str, str]]]:
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise ValidationError("messages 的最后一条必须是用户（user）的问题。")
    question = turns[-1][1]
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationError(f"问题太长：{len(question)} 个字，最多 {MAX_QUESTION_CHARS} 个字。")
    history = [{"role": r, "content": c[: MAX_QUESTION_CHARS * 4]} for r, c in turns[:-1]][-12:]
    return question, history


def sources_text(answer: dict[str, Any]) -> str:
    """The numbered sources, as plain text under the answer."""
    lines = []
    for c in answer.get("citations", []):
        who = "，".join(x for x in (c.get("issuer"), c.get("region"), c.get("published")) if x and x != "未注明")
        lines.append(f"[{c['n']}] {c.get('title', '')}" + (f"（{who}）" if who else "")
                     + (f" · {c['heading']}" if c.get("heading") else ""))
    if answer.get("refused") and answer.get("nearest"):
        lines = ["相近的文档：", *(f"- {d.get('title', '')}" for d in answer["nearest"])]
    elif lines:
        lines.insert(0, "来源：")
    return "\n\n" + "\n".join(lines) if lines else ""


def _chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return format_sse_event(data_str=json.dumps(obj, ensure_ascii=False))


class OAModelsOut(BaseModel):
    object: str = "list"
    data: list[dict[str, Any]]


class OACompletionOut(BaseModel):
    """A chat completion; ``shegong`` holds the whole answer as ``/api/chat`` gives it."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int]
    shegong: AnswerOut


@router.get("/models", response_model=OAModelsOut)
def models(user: ChatUser) -> dict[str, Any]:
    """The one model this server offers."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "shegong"}]}


@router.post("/chat/completions", response_model=None,
             responses={200: {"model": OACompletionOut, "description": "a completion, or with stream=true its chunks "
                              "as server-sent events (text/event-stream)"}})
def completions(body: OAChatIn, state: StateDep, user: ChatUser) -> dict[str, Any] | EventSourceResponse:
    """OpenAI chat completions over the knowledge base; sources follow the answer. Every exchange
    starts a new stored conversation (the client sends the history)."""
    question, history = _split(body)
    turn = state.chat.open(user, ChatRequest(question, history=history))
    cid, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
    if not body.stream:
        ans = turn.answer()
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": ans["answer"] + sources_text(ans)}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "shegong": ans,
        }

    def events() -> Iterator[bytes]:
        yield _chunk(cid, created, {"role": "assistant", "content": ""})
        for ev in turn.events():
            if ev["type"] == "delta":
                yield _chunk(cid, created, {"content": ev["text"]})
            elif ev["type"] == "reset":  # the LLM failed mid-way: say so, then give the extractive answer
                yield _chunk(cid, created, {"content": "\n\n（生成中断，以下为知识库原文摘录）\n" + ev["text"]})
            elif ev["type"] == "done":
                yield _chunk(cid, created, {"content": sources_text(ev["answer"])})
        yield _chunk(cid, created, {}, "stop")
        yield format_sse_event(data_str="[DONE]")

    return EventSourceResponse(iterate_in_threadpool(events()))
