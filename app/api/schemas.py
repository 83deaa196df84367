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

    _q = field_validator("question")(classmethod(lambda cls, v: _question_ok(v)))

    def history_dicts(self) -> list[dict[str, str]]:
        return [t.model_dump() for t in self.history]


class SearchOut(BaseModel):
    hits: list[dict[str, Any]]
