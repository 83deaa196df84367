"""The chat use case, once for every entry point (``/api/chat``, ``/api/chat/stream``,
``/v1/chat/completions`` and the UI): the question checked, the user's rate limit, the history
(given, or that of a stored conversation of the user's), the region the answer prefers, and the
exchange saved (masked) in the user's conversations.

:meth:`ChatService.open` does everything that can fail before an answer begins, so an HTTP entry
point can still answer with an error status; the turn it returns then streams or collects.

>>> turn = state.chat.open(user, ChatRequest("低保怎么申请？"))     # doctest: +SKIP
>>> turn.answer()["message_id"]                                      # doctest: +SKIP
7
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import ValidationError
from app.rag.assistant import MAX_QUESTION_CHARS, Assistant
from app.rag.retriever import Filters
from app.service.accounts import RATE_EXEMPT, User
from app.service.ratelimit import Limiter
from app.service.records import ConversationLog


@dataclass(frozen=True)
class ChatRequest:
    question: str
    history: Sequence[dict[str, str]] | None = None  # None: the stored conversation's, if one is named
    conversation_id: str | None = None  # continue this conversation of the user's
    filters: Filters | None = None
    prefer_region: str | None = None  # else the user's own region
    save: bool = True


class ChatService:
    def __init__(self, assistant: Assistant, conversations: ConversationLog, limiter: Limiter) -> None:
        self.assistant = assistant
        self.conversations = conversations
        self.limiter = limiter

    def open(self, user: User, req: ChatRequest) -> ChatTurn:
        """Check the question, count it against the user's limit and find its history; raises
        ``ValidationError``, ``RateLimitError`` or ``NotFoundError`` (another user's conversation)."""
        question = (req.question or "").strip()
        if not question:
            raise ValidationError("请先输入问题。")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationError(f"问题太长：{len(question)} 个字，最多 {MAX_QUESTION_CHARS} 个字。")
        if user.role not in RATE_EXEMPT:
            self.limiter.hit(user.username)
        if req.conversation_id:
            self.conversations.require_owner(user, req.conversation_id)
        if req.history is not None:
            history = list(req.history)
        elif req.conversation_id:
            history = self.conversations.history(user, req.conversation_id)
        else:
            history = []
        return ChatTurn(self, user, req, question, history, req.prefer_region or user.region or None)


@dataclass
class ChatTurn:
    service: ChatService
    user: User
    request: ChatRequest
    question: str
    history: list[dict[str, str]]
    region: str | None

    def events(self) -> Iterator[dict[str, Any]]:
        """The assistant's events (``delta``, ``reset``, ``done``); the ``done`` answer is saved
        first and then carries its ``conversation_id`` and ``message_id``."""
        for ev in self.service.assistant.chat_stream(self.question, self.history, filters=self.request.filters,
                                                     prefer_region=self.region):
            if ev["type"] == "done":
                ev = {**ev, "answer": self._save(ev["answer"])}
            yield ev

    def answer(self) -> dict[str, Any]:
        """The whole answer at once: what :meth:`events` ends with."""
        done = [ev["answer"] for ev in self.events() if ev["type"] == "done"]
        return done[-1]

    def _save(self, answer: dict[str, Any]) -> dict[str, Any]:
        if not self.request.save:
            return answer
        cid, mid = self.service.conversations.add(self.user, self.request.conversation_id, self.question, answer)
        return {**answer, "conversation_id": cid, "message_id": mid}
