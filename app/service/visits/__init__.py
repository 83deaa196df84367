"""智慧走四百, the visit module: the roster, tags and their intervals, the plan, the brief before a
visit, the record after it (quick capture from a free-text note), follow-ups until closed, imports
and exports, all scoped to the caller and written to the access log.

:class:`Visits` holds its parts, built once per process (``app.service.state``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from app.core.manifest import Manifest
from app.core.settings import Settings
from app.rag.assistant import Assistant
from app.service.accounts import User
from app.service.db import ServiceDB
from app.service.visits.access import Access, AccessLog
from app.service.visits.book import VisitBook
from app.service.visits.brief import Briefer
from app.service.visits.capture import draft_record
from app.service.visits.export import Exporter
from app.service.visits.importer import RosterImporter
from app.service.visits.people import today
from app.service.visits.plan import Planner
from app.service.visits.roster import Roster
from app.service.visits.scope import Regions
from app.service.visits.tags import TagBook

log = logging.getLogger(__name__)


@dataclass
class Visits:
    tags: TagBook
    regions: Regions
    access: AccessLog
    roster: Roster
    book: VisitBook
    planner: Planner
    briefer: Briefer
    importer: RosterImporter
    exporter: Exporter
    llm_allowed: bool = False
    llm: Any = None  # the assistant's LLMAnswerer, used only when llm_allowed

    @classmethod
    def build(cls, settings: Settings, db: ServiceDB, assistant: Assistant, manifest: Manifest,
              region_tree: dict[str, Any]) -> Visits:
        tags = TagBook.load(settings.visit_tags_file)
        regions = Regions(db, region_tree)
        access = AccessLog(db)
        roster = Roster(db, regions, tags, access, store_id_card=settings.visit_store_id_card)
        book = VisitBook(db, roster, access, retention_days=settings.visit_retention_days)
        if book.purged_at_start:
            log.info("visit retention: deleted %d visit records older than %d days", book.purged_at_start,
                     settings.visit_retention_days)
        return cls(
            tags=tags, regions=regions, access=access, roster=roster, book=book,
            planner=Planner(db, roster, tags, access),
            briefer=Briefer(assistant, manifest, roster, book, tags, access),
            importer=RosterImporter(db, roster, access, max_rows=settings.visit_import_max_rows,
                                    max_bytes=int(settings.visit_import_max_mb * 1024 * 1024)),
            exporter=Exporter(db, roster, book, access),
            llm_allowed=settings.visit_llm_allowed and settings.llm_enabled,
            llm=getattr(assistant, "llm", None),
        )

    def capture(self, user: User, household_id: int, note: str, *, on: dt.date | None = None) -> dict[str, Any]:
        """A drafted record from a free-text note, for the worker to confirm; nothing is saved.
        Drafted offline; only with ``SHEGONG_VISIT_LLM_ALLOWED`` does a masked copy go to the LLM."""
        h = self.roster.get(user, household_id, log=False)
        day = on or today()
        draft = draft_record(note, day)
        by = "offline"
        if self.llm_allowed and self.llm is not None:
            from app.service.visits.llm_capture import mask_note, refine

            masked = mask_note(note, [m["name"] for m in h.people],
                               [h.row["xiaoqu"], h.row["building"] + "号楼", h.row["room"]])
            self.access.record(user, Access.LLM_SEND, "household", [household_id], {"op": "capture"})
            draft, used = refine(draft, masked, day, self.llm)
            by = "llm" if used else "offline"
        out = draft.to_dict()
        out["household_id"] = household_id
        out["checklist"] = {item: False for item in self.tags.checklist(h.tags)}
        out["drafted_by"] = by
        self.access.record(user, Access.CHANGE, "household", [household_id], {"op": "capture_draft"})
        return out
