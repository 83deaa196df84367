"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.rag.assistant import MAX_QUESTION_CHARS
from app.rag.retriever import Filters


class FiltersIn(BaseModel):
    doc_type: list[str] | str | None = None
    issuer: str | None = None
    in_force_on: str | None = Field(default=None, description="YYYY-MM-DD: only rules in force that day")

    @field_validator("in_force_on")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        import datetime as dt

        if v:
            try:
                dt.date.fromisoformat(v)
            except ValueError as exc:
                raise ValueError(f"in_force_on 应为 YYYY-MM-DD 日期，收到“{v}”") from exc
        return v

    def to_filters(self) -> Filters:
        types = [self.doc_type] if isinstance(self.doc_type, str) else self.doc_type
        return Filters(doc_type=types or None, issuer=self.issuer or None, in_force_on=self.in_force_on)


def _question_ok(v: str) -> str:
    if not v.strip():
        raise ValueError("问题不能为空")
    if len(v) > MAX_QUESTION_CHARS:
        raise ValueError(f"问题太长：{len(v)} 个字，最多 {MAX_QUESTION_CHARS} 个字")
    return v


class SearchIn(BaseModel):
    query: str
    k: int = Field(default=10, ge=1, le=100)
    filters: FiltersIn | None = None
    prefer_region: str | None = None

    _q = field_validator("query")(classmethod(lambda cls, v: _question_ok(v)))


class Turn(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=MAX_QUESTION_CHARS * 4)


class ChatIn(BaseModel):
    question: str
    history: list[Turn] = Field(default_factory=list, max_length=40)
    filters: FiltersIn | None = None
    prefer_region: str | None = None
    conversation_id: str | None = Field(default=None, max_length=64,
                                        description="continue a stored conversation (its turns are the history)")
    save: bool = Field(default=True, description="store the exchange in the user's conversations")

    _q = field_validator("question")(classmethod(lambda cls, v: _question_ok(v)))

    def history_dicts(self) -> list[dict[str, str]]:
        return [t.model_dump() for t in self.history]


class FeedbackIn(BaseModel):
    message_id: int
    rating: Literal[1, -1]
    comment: str = Field(default="", max_length=1000)


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class MetaIn(BaseModel):
    """Metadata a trainer may set (omitted fields stay as they are)."""

    title: str | None = Field(default=None, max_length=200)
    doc_type: str | None = None
    issuer: str | None = Field(default=None, max_length=200)
    region: str | None = None
    published: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None
    replaced_by: str | None = Field(default=None, max_length=200)
    fictional: bool | None = Field(default=None, description="an invented example: its lines are marked 虚构示例")

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v not in (None, "")}


class ReviewIn(BaseModel):
    status: Literal["fixed", "added", "dismissed"]
    note: str = Field(default="", max_length=1000)


class CaseIn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answerable: bool = True
    evidence: list[str] = Field(default_factory=list, max_length=10)
    answer_keywords: list[str] = Field(default_factory=list, max_length=10)
    tags: list[str] = Field(default_factory=list, max_length=10)
    message_id: int | None = None


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    role: Literal["worker", "trainer", "evaluator", "admin"] = "worker"
    region: str = Field(default="", max_length=64)


class UserPatch(BaseModel):
    role: Literal["worker", "trainer", "evaluator", "admin"] | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, max_length=256)
