"""智慧小助手 over HTTP: drafts of a visit summary, a work log, a monthly report and notices.

``POST /api/drafts`` returns the draft for the worker to edit; ``POST /api/drafts/docx`` returns the
edited text as a Word file. The download is rebuilt from the same request first, so scope is checked
again and the access log names the records it used.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.api.deps import CurrentUser, StateDep
from app.api.replies import Reply
from app.service.drafts import Drafts
from app.service.drafts.types import KINDS
from app.service.drafts.word import MAX_TEXT, to_docx

router = APIRouter(prefix="/api", tags=["drafts"])
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_REPLY: dict[int | str, dict[str, Any]] = {200: {"content": {DOCX: {}}, "description": "a .docx file"}}


class DraftIn(BaseModel):
    kind: Literal["visit_summary", "work_log", "monthly_report", "notice"]
    visit_id: int | None = Field(default=None, description="visit_summary")
    day: str = Field(default="", max_length=10, description="work_log: a day in the span (default today)")
    span: Literal["day", "week"] = "day"
    worker: str = Field(default="", max_length=64, description="work_log: a supervisor may name a worker")
    juwei: str = Field(default="", max_length=64, description="monthly_report: a 居委 or street")
    month: str = Field(default="", max_length=7, description="monthly_report: 2026-11 (default this month)")
    template: str = Field(default="", max_length=64, description="notice: a template key")
    fields: dict[str, str] = Field(default_factory=dict, description="notice: the template's fields")
    masked: bool = True
    polish: bool = Field(default=False, description="ask the configured LLM to polish it (checked against the facts)")


class DocxIn(DraftIn):
    text: str = Field(default="", max_length=MAX_TEXT, description="the worker's edited text; empty = the draft's own")


class FactOut(Reply):
    label: str
    value: str
    source: str


class DraftOut(Reply):
    kind: str
    kind_name: str
    title: str
    text: str = Field(description="first line the title; edit before downloading")
    facts: list[FactOut] = Field(description="every figure and name the draft states, with its record")
    masked: bool
    demo: bool
    drafted_by: str = Field(description="template | llm")
    note: str
    notices: list[str]


class TemplatesOut(Reply):
    kinds: dict[str, str]
    templates: list[dict[str, Any]]


def _draft(drafts: Drafts, user: Any, body: DraftIn) -> Any:
    return drafts.make(user, body.kind, body.model_dump(exclude={"kind", "masked", "polish"}),
                       masked=body.masked, polish=body.polish)


@router.get("/drafts/templates", response_model=TemplatesOut)
def templates(user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """The kinds of draft and the notice templates with their fields."""
    return {"kinds": KINDS, "templates": [t.to_dict() for t in state.drafts.templates.values()]}


@router.post("/drafts", response_model=DraftOut)
def make_draft(body: DraftIn, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """A draft from the records (or a notice from its template), for the worker to edit."""
    return dict(_draft(state.drafts, user, body).to_dict())


@router.post("/drafts/docx", response_class=Response, responses=DOCX_REPLY)
def draft_docx(body: DocxIn, user: CurrentUser, state: StateDep) -> Response:
    """The edited draft as .docx; the records it drew on are logged as an export."""
    draft = _draft(state.drafts, user, body.model_copy(update={"polish": False}))
    data = to_docx(body.text or draft.text, demo=draft.demo)
    state.drafts.log_download(user, draft)
    name = quote(f"{draft.title[:40]}.docx")
    return Response(data, media_type=DOCX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}", "Cache-Control": "no-store"})
