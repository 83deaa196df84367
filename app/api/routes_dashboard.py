"""数据会说话 over HTTP: the dashboard of a region and the lists behind its figures.

Workers see their own work, supervisors their region, admins everything, trainers the
knowledge-base panel only; a region outside the caller's scope is refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.api.deps import CurrentUser, StateDep
from app.api.replies import Reply
from app.api.routes_visits import XLSX, XLSX_REPLY
from app.service.dashboard import require_dashboard, summary_xlsx
from app.service.visits.access import Access

router = APIRouter(prefix="/api", tags=["dashboard"])


class KbPanel(Reply):
    days: int
    asked: int
    per_day: list[dict[str, Any]]
    refusal_rate: float | None = None
    thumbs_down_rate: float | None = None
    most_cited: list[dict[str, Any]]
    unanswered_topics: list[dict[str, Any]] = Field(description="grouped, masked; only topics asked twice or more")


class DashboardOut(Reply):
    kb: KbPanel
    definitions: dict[str, str] = Field(description="each figure's 口径")
    scope: str | None = Field(default=None, description="own | region | all")
    month: str | None = None
    households: int | None = None
    coverage: list[dict[str, Any]] | None = Field(default=None, description="by tag: due, done, rate")
    by_worker: list[dict[str, Any]] | None = None
    overdue: int | None = None
    followups: list[dict[str, Any]] | None = Field(default=None, description="open follow-ups by age")
    urgent: int | None = None
    methods: dict[str, int] | None = None
    needs: list[dict[str, Any]] | None = Field(default=None, description="by category, with a six-month trend")


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=2000)


class AskOut(Reply):
    question: str
    declined: bool
    reading: str = Field(description="how the question was read: 按：上月 · 高龄 · 未入户走访的户")
    metric: str
    metric_name: str
    value: int | float = Field(description="the figure (a fraction for a share)")
    unit: str
    count: int = Field(description="how many records are behind the figure")
    items: list[dict[str, Any]] = Field(description="the households, visits or follow-ups behind it (first 200)")
    answer: str
    definition: str = Field(description="the metric's 口径")
    reason: str = Field(description="why it was declined")
    nearest: list[str] = Field(description="questions it can answer, offered when it declines")
    kind: str = Field(description="household | visit | followup")
    by: str = Field(description="grammar | llm")
    sql: str = Field(description="the checked query, when an LLM wrote it")
    columns: list[str]
    rows: list[list[Any]]


class BehindOut(Reply):
    metric: str
    items: list[dict[str, Any]]


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(user: CurrentUser, state: StateDep, juwei: str = "", month: str = "") -> dict[str, Any]:
    """A region's figures this month (or ``month=2026-11``); ``juwei`` narrows to a 居委 or street."""
    require_dashboard(user)
    return state.dashboard.summary(user, juwei=juwei, month=month or None)


@router.post("/ask-data", response_model=AskOut)
def ask_data(body: AskIn, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """问数: a plain question about the visit data, answered in the caller's scope with the figure,
    the list behind it, how it was read and its 口径; or declined with the nearest it can answer."""
    user.require("visit")
    return state.ask.ask(user, body.question).to_dict()


@router.get("/dashboard/households", response_model=BehindOut)
def behind(user: CurrentUser, state: StateDep, metric: str, juwei: str = "", tag: str = "", worker: str = "",
           month: str = "") -> dict[str, Any]:
    """The households behind a figure: ``metric`` = due | done | not_done | overdue."""
    require_dashboard(user)
    user.require("visit")
    return {"metric": metric, "items": state.dashboard.households_behind(user, metric, juwei=juwei, tag=tag,
                                                                        worker=worker, month=month or None)}


@router.get("/dashboard/export.xlsx", response_class=Response, responses=XLSX_REPLY)
def export(user: CurrentUser, state: StateDep, juwei: str = "", month: str = "") -> Response:
    """The dashboard's figures as .xlsx (counts only, no resident in it); logged as an export."""
    require_dashboard(user)
    d = state.dashboard.summary(user, juwei=juwei, month=month or None)
    state.visits.access.record(user, Access.EXPORT, "dashboard", [], {"juwei": juwei, "month": d.get("month")})
    return Response(summary_xlsx(d), media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename*=UTF-8''dashboard.xlsx", "Cache-Control": "no-store"})
