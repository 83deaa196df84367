"""智慧走四百 over HTTP: households, visits, follow-ups, the plan, the brief, import and export.

Every route needs the "visit" permission (workers, supervisors, admins, and any account that holds
a supervisor's scope); which households it sees is the visit scope's business: anything outside it
is 404. Supervisor-only actions (create, import, assign, hand over, share, export, acknowledge)
check the scope too. Phone numbers come back masked; ``.../phone`` reveals one, and is logged.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.api.deps import AdminUser, StateDep, require
from app.api.replies import Ok
from app.api.replies_visits import (
    AccessOut,
    BriefOut,
    CountOut,
    DraftOut,
    FollowupListOut,
    FollowupOut,
    HouseholdListOut,
    HouseholdOut,
    ImportOut,
    PhoneOut,
    PlanOut,
    TagsOut,
    TimelineOut,
    VisitListOut,
    VisitOut,
    VisitSaved,
    WeatherOut,
)
from app.core.errors import ValidationError
from app.service.accounts import User
from app.service.visits.book import VisitIn
from app.service.visits.people import parse_day
from app.service.visits.roster import HouseholdIn

router = APIRouter(prefix="/api", tags=["visits"])
VisitUser = Annotated[User, Depends(require("visit"))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_REPLY: dict[int | str, dict[str, Any]] = {200: {"content": {XLSX: {}}, "description": "an .xlsx file"}}


class StatusIn(BaseModel):
    status: str
    on: str = ""


class AssignIn(BaseModel):
    household_ids: list[int] = Field(min_length=1, max_length=5000)
    worker: str = Field(default="", description="username; empty to unassign")


class HandoverIn(BaseModel):
    from_worker: str = Field(min_length=1)
    to_worker: str = Field(min_length=1)


class ShareIn(BaseModel):
    worker: str = Field(min_length=1)
    until: str = ""


class CaptureIn(BaseModel):
    note: str = Field(min_length=1, max_length=5000, description="typed or dictated, free text")
    on: str = Field(default="", description="the note's day (default today, Asia/Shanghai)")


class CloseIn(BaseModel):
    note: str = Field(min_length=1, max_length=1000)


class WeatherIn(BaseModel):
    on: bool
    tags: list[str] = Field(default_factory=list)
    note: str = ""
    until: str = ""


class RegionIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    parent: str = Field(min_length=1, max_length=64)


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}", "Cache-Control": "no-store"})


# -- households --------------------------------------------------------------------------------
@router.get("/households", response_model=HouseholdListOut)
def list_households(user: VisitUser, state: StateDep, q: str = "", juwei: str = "", worker: str = "", tag: str = "",
                    status: str = "", limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Households in the caller's scope (a worker's own and lent ones, a supervisor's region)."""
    total, items = state.visits.roster.search(user, q=q[:50], juwei=juwei, worker=worker, tag=tag, status=status,
                                            limit=limit, offset=offset)
    return {"total": total, "items": items}


@router.post("/households", response_model=HouseholdOut)
def create_household(body: HouseholdIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.roster.create(user, body).to_dict()


@router.post("/households/import", response_model=ImportOut)
async def import_roster(user: VisitUser, state: StateDep, file: Annotated[UploadFile, File()],
                        commit: Annotated[bool, Form()] = False, mode: Annotated[str, Form()] = "good",
                        mapping: Annotated[str, Form()] = "") -> dict[str, Any]:
    """A roster from .xlsx or .csv: with ``commit=false`` a preview (column mapping, errors per row);
    with ``commit=true`` the import, ``mode=good`` (the good rows) or ``all`` (all or nothing)."""
    state.visits.roster.require_supervisor(user)
    limit = int(state.settings.visit_import_max_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    try:
        cols = json.loads(mapping) if mapping.strip() else None
    except json.JSONDecodeError as exc:
        raise ValidationError("mapping 应为 JSON 对象，如 {\"楼号\": \"building\"}。") from exc
    if cols is not None and not isinstance(cols, dict):
        raise ValidationError("mapping 应为 JSON 对象，如 {\"楼号\": \"building\"}。")
    name = file.filename or ""
    if not commit:
        return state.visits.importer.preview(user, name, data, cols).to_dict()
    return state.visits.importer.commit(user, name, data, mode=mode, mapping=cols)


@router.get("/households/export.xlsx", response_class=Response, responses=XLSX_REPLY)
def export_roster(user: VisitUser, state: StateDep, masked: bool = True, juwei: str = "") -> Response:
    """The roster as .xlsx (supervisors and admins; masked unless ``masked=false``)."""
    data, _ = state.visits.exporter.roster_xlsx(user, masked=masked, juwei=juwei)
    return _xlsx(data, "roster.xlsx")


@router.post("/households/assign", response_model=CountOut)
def assign(body: AssignIn, user: VisitUser, state: StateDep) -> dict[str, int]:
    return {"count": state.visits.roster.assign(user, body.household_ids, body.worker)}


@router.post("/households/handover", response_model=CountOut)
def handover(body: HandoverIn, user: VisitUser, state: StateDep) -> dict[str, int]:
    """A leaving worker's households (in the supervisor's scope) go to another worker."""
    return {"count": state.visits.roster.handover(user, body.from_worker, body.to_worker)}


@router.get("/households/{household_id}", response_model=HouseholdOut)
def get_household(household_id: int, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.roster.get(user, household_id).to_dict()


@router.put("/households/{household_id}", response_model=HouseholdOut)
def update_household(household_id: int, body: HouseholdIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.roster.update(user, household_id, body).to_dict()


@router.post("/households/{household_id}/status", response_model=HouseholdOut)
def set_status(household_id: int, body: StatusIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.roster.set_status(user, household_id, body.status, body.on).to_dict()


@router.get("/households/{household_id}/members/{member_id}/phone", response_model=PhoneOut)
def reveal_phone(household_id: int, member_id: int, user: VisitUser, state: StateDep) -> dict[str, str]:
    """The full number, to call; each reveal is in the access log."""
    return {"phone": state.visits.roster.reveal_phone(user, household_id, member_id)}


@router.post("/households/{household_id}/share", response_model=Ok)
def share(household_id: int, body: ShareIn, user: VisitUser, state: StateDep) -> dict[str, bool]:
    """Lend a household to another worker for cover, until a day."""
    state.visits.roster.share(user, household_id, body.worker, body.until)
    return {"ok": True}


@router.delete("/households/{household_id}/share/{worker}", response_model=Ok)
def unshare(household_id: int, worker: str, user: VisitUser, state: StateDep) -> dict[str, bool]:
    state.visits.roster.unshare(user, household_id, worker)
    return {"ok": True}


@router.get("/households/{household_id}/brief", response_model=BriefOut)
def brief(household_id: int, user: VisitUser, state: StateDep) -> dict[str, Any]:
    """访前提示: tags, last visits, open follow-ups, the checklist, and cited policies to check."""
    return state.visits.briefer.brief(user, household_id)


@router.get("/households/{household_id}/visits", response_model=VisitListOut)
def household_visits(household_id: int, user: VisitUser, state: StateDep, limit: int = 50) -> dict[str, Any]:
    return {"items": state.visits.book.for_household(user, household_id, limit=max(1, min(limit, 200)))}


@router.get("/households/{household_id}/timeline", response_model=TimelineOut)
def timeline(household_id: int, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return {"events": state.visits.book.timeline(user, household_id)}


@router.post("/households/{household_id}/capture", response_model=DraftOut)
def capture(household_id: int, body: CaptureIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    """A drafted record from one free-text note, to confirm or edit; nothing is saved."""
    on = parse_day(body.on, "记录日期") if body.on else None
    return state.visits.capture(user, household_id, body.note, on=on)


# -- visits ------------------------------------------------------------------------------------
@router.post("/visits", response_model=VisitSaved)
def save_visit(body: VisitIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    """Save a record (idempotent by ``client_id``). An urgent one comes back with the knowledge
    base's cited steps and 110, 119, 120."""
    visit, created = state.visits.book.save(user, body)
    out: dict[str, Any] = {"visit": visit, "created": created}
    if visit["risk"] == "紧急":
        out["emergency"] = state.visits.briefer.emergency(visit["risk_signs"] or ["紧急情况"])
    return out


@router.get("/visits/urgent", response_model=VisitListOut)
def urgent(user: VisitUser, state: StateDep) -> dict[str, Any]:
    """Urgent records not yet acknowledged, in the caller's scope (the top of a supervisor's view)."""
    return {"items": state.visits.book.urgent(user)}


@router.get("/visits/{visit_id}", response_model=VisitOut)
def get_visit(visit_id: int, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.book.get(user, visit_id)


@router.post("/visits/{visit_id}/acknowledge", response_model=VisitOut)
def acknowledge(visit_id: int, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.book.acknowledge(user, visit_id)


# -- follow-ups --------------------------------------------------------------------------------
@router.get("/followups", response_model=FollowupListOut)
def list_followups(user: VisitUser, state: StateDep, status: str = "open", juwei: str = "") -> dict[str, Any]:
    """跟进台账: open items overdue first, then by due date (``status=closed`` or ``all`` too)."""
    return {"items": state.visits.book.followups(user, status=status, juwei=juwei)}


@router.get("/followups/export.xlsx", response_class=Response, responses=XLSX_REPLY)
def export_ledger(user: VisitUser, state: StateDep, masked: bool = True, status: str = "all") -> Response:
    data, _ = state.visits.exporter.ledger_xlsx(user, masked=masked, status=status)
    return _xlsx(data, "followups.xlsx")


@router.post("/followups/{followup_id}/close", response_model=FollowupOut)
def close_followup(followup_id: int, body: CloseIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.book.close_followup(user, followup_id, body.note)


# -- plan, tags, switches ----------------------------------------------------------------------
@router.get("/plan", response_model=PlanOut)
def plan(user: VisitUser, state: StateDep, mine: Annotated[bool | None, Query()] = None,
         worker: str = "") -> dict[str, Any]:
    """Due and overdue households today and this week, urgent first, with the reason in words: a
    worker's own; a supervisor's or admin's region by worker (``mine=true`` for their own list)."""
    return state.visits.planner.plan(user, mine=mine, worker=worker)


@router.get("/visit-tags", response_model=TagsOut)
def visit_tags(user: VisitUser, state: StateDep) -> dict[str, Any]:
    """The tags, their suggested intervals (建议值) and checklists, from the operator's tag file."""
    t = state.visits.tags
    return {"tags": [x.to_dict() for x in t.tags], "checklist_always": list(t.checklist_always),
            "default_visit_days": t.default_visit_days, "source": t.source}


@router.get("/visit-weather", response_model=WeatherOut)
def get_weather(user: VisitUser, state: StateDep) -> dict[str, Any]:
    return state.visits.planner.weather()


@router.post("/visit-weather", response_model=WeatherOut)
def set_weather(body: WeatherIn, user: VisitUser, state: StateDep) -> dict[str, Any]:
    """The extreme-weather switch: every household with the chosen tags is due today."""
    return state.visits.planner.set_weather(user, on=body.on, tags=body.tags, note=body.note, until=body.until)


@router.get("/access-log", response_model=AccessOut)
def access_log(user: AdminUser, state: StateDep, limit: int = 200, action: str = "") -> dict[str, Any]:
    """Who read, changed, revealed, imported or exported residents' data (admins only; ids, not names)."""
    return {"entries": state.visits.access.recent(limit, action=action or None)}


@router.post("/regions", response_model=Ok)
def add_region(body: RegionIn, user: AdminUser, state: StateDep) -> dict[str, bool]:
    """Extend the region tree below a street (a 居委)."""
    state.visits.regions.add(body.name, body.parent, by=user.username)
    return {"ok": True}
