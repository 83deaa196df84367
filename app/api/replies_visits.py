"""Reply shapes of the visit module's routes (``/api/households``, ``/api/visits``,
``/api/followups``, ``/api/plan``), so that ``/api/docs`` shows them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.api.replies import CitationOut, Reply


class MemberOut(Reply):
    id: int
    name: str
    relation: str
    birth_year: int | None = None
    age: int | None = None
    phone: str = Field(description="masked (139****1234); revealing it is its own request")
    has_phone: bool
    tags: list[str]
    notes: str


class HouseholdOut(Reply):
    id: int
    juwei: str
    xiaoqu: str
    building: str
    room: str
    address: str
    worker_id: int | None = None
    worker: str
    tags: list[str]
    status: str = Field(description="在住 | 搬离 | 户内无人 | 已故")
    status_on: str
    notes: str
    last_visit_on: str
    last_contact_on: str
    last_risk: str
    urgent_open: bool
    demo: bool = Field(description="fictional demo data (虚构)")
    members: list[MemberOut] = Field(default_factory=list)


class HouseholdListOut(Reply):
    total: int
    items: list[HouseholdOut]


class PhoneOut(Reply):
    phone: str


class FollowupOut(Reply):
    id: int
    visit_id: int
    household_id: int
    item: str
    owner: str
    due_on: str
    status: str = Field(description="open | closed")
    overdue_days: int
    close_note: str
    closed_at: str
    address: str | None = None
    juwei: str | None = None
    risk: str | None = None


class FollowupListOut(Reply):
    items: list[FollowupOut]


class VisitOut(Reply):
    id: int
    client_id: str
    household_id: int
    worker: str
    visited_on: str
    method: str
    met: bool
    checklist: dict[str, bool]
    needs: list[dict[str, str]]
    risk: str = Field(description="正常 | 关注 | 紧急")
    risk_signs: list[str]
    referral: str
    notes: str
    acknowledged: bool
    demo: bool
    followups: list[FollowupOut] = Field(default_factory=list)


class EmergencyStep(Reply):
    sign: str
    answer: str
    citations: list[CitationOut]


class EmergencyOut(Reply):
    numbers: list[dict[str, str]] = Field(description="110, 119 and 120, always")
    steps: list[EmergencyStep]
    note: str


class VisitSaved(Reply):
    visit: VisitOut
    created: bool = Field(description="false when this client_id was saved before (a retried save)")
    emergency: EmergencyOut | None = None


class VisitListOut(Reply):
    items: list[VisitOut]


class TimelineOut(Reply):
    events: list[dict[str, Any]]


class DraftOut(Reply):
    household_id: int
    visited_on: str
    method: str
    met: bool
    risk: str
    risk_signs: list[str]
    negated_signs: list[str]
    concerns: list[str]
    needs: list[dict[str, str]]
    followups: list[dict[str, Any]]
    referral: str
    notes: str
    checklist: dict[str, bool]
    drafted_by: str = Field(description="offline: drafted on this machine, nothing sent anywhere")


class PlanItem(Reply):
    household_id: int
    juwei: str
    address: str
    worker: str
    tags: list[str]
    due_on: str
    kind: str = Field(description="入户 | 联系")
    reason: str = Field(description="in words: 独居老人，距上次入户走访 12 天")
    overdue_days: int
    urgent: bool
    when: str = Field(description="今天 | 本周")
    demo: bool


class PlanOut(Reply):
    day: str = Field(description="today in Asia/Shanghai")
    week_end: str
    own: bool
    today: list[PlanItem]
    week: list[PlanItem]
    total: int
    by_worker: list[dict[str, Any]]
    weather: dict[str, Any]


class PolicyItem(Reply):
    topic: str
    text: str = Field(description="worded as something to check, never a promise of eligibility")
    answer: str
    citations: list[CitationOut]


class BriefOut(Reply):
    household_id: int
    address: str
    juwei: str
    tags: list[str]
    status: str
    last_risk: str
    demo: bool
    members: list[dict[str, Any]]
    last_visits: list[dict[str, Any]] = Field(description="two lines each")
    open_followups: list[FollowupOut]
    checklist: list[str]
    policies: list[PolicyItem]
    policies_note: str = Field(description="says so when no document matched")
    topics: list[str]


class ImportOut(Reply):
    mapping: list[dict[str, str]]
    unmapped: list[str]
    rows: int
    good_rows: int
    bad_rows: int
    households: int
    good_households: int
    new_households: int
    updated_households: int
    errors: list[dict[str, Any]]
    imported: bool = False
    created: int = 0
    updated: int = 0
    message: str = ""


class TagsOut(Reply):
    tags: list[dict[str, Any]]
    checklist_always: list[str]
    default_visit_days: int
    source: str


class WeatherOut(Reply):
    on: bool
    tags: list[str]
    note: str
    until: str


class AccessOut(Reply):
    entries: list[dict[str, Any]]


class CountOut(Reply):
    count: int
