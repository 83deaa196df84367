"""The brief before knocking (访前提示), and the steps shown with an urgent record.

"可能适用的政策和服务" are found in the knowledge base from the household's tags (each tag's
queries and documents in the tag file) and its situation (the needs of its recent visits); each
is an answer of the same pipeline as chat, cited the same way, and worded as something to check,
never a promise of eligibility. These questions hold residents' situations, so they are answered
offline (``Assistant.answer_offline``): nothing goes to an LLM here.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.manifest import Manifest
from app.rag.assistant import Assistant
from app.service.accounts import User
from app.service.visits.access import Access, AccessLog
from app.service.visits.book import VisitBook
from app.service.visits.people import address_text
from app.service.visits.roster import Roster
from app.service.visits.tags import TagBook

MAX_TOPICS = 5
EMERGENCY_NUMBERS = [
    {"number": "110", "name": "报警（人身安全、走失、家暴、破门救助）"},
    {"number": "119", "name": "火警（着火、冒烟、燃气泄漏时先撤离再报警）"},
    {"number": "120", "name": "急救（摔倒受伤、昏迷、胸痛、呼吸困难）"},
]
CHECK_WORDING = "可了解是否符合以下政策或服务（以现行文件和经办部门的认定为准）："
NOTHING_FOUND = "知识库中没有找到与这户情况相关的政策或服务文件。"


def _two_lines(v: dict[str, Any]) -> list[str]:
    met = "见到本人" if v["met"] else "未遇"
    first = f"{v['visited_on']} {v['method']}，{met}，{v['risk']}"
    needs = "；".join(n["text"] or n["category"] for n in v["needs"][:2])
    notes = v["notes"].replace("\n", " ")
    second = needs or (notes[:40] + ("…" if len(notes) > 40 else "")) or "（无记录内容）"
    return [first, second]


class Briefer:
    def __init__(self, assistant: Assistant, manifest: Manifest, roster: Roster, book: VisitBook, tags: TagBook,
                 access: AccessLog) -> None:
        self.assistant = assistant
        self.manifest = manifest
        self.roster = roster
        self.book = book
        self.tags = tags
        self.access = access

    def _topics(self, tag_names: list[str], recent: list[dict[str, Any]]) -> list[str]:
        topics: list[str] = []
        for name in tag_names:
            if name not in self.tags:
                continue
            t = self.tags.get(name)
            topics += t.doc_queries
            for doc_id in t.doc_ids:
                doc = self.manifest.document(doc_id)
                if doc is not None and doc.meta.title:
                    topics.append(doc.meta.title)
        for v in recent[:3]:
            for n in v["needs"]:
                if n["category"] != "其他" and n["text"]:
                    topics.append(n["text"][:60])
        seen: list[str] = []
        for q in topics:
            if q not in seen:
                seen.append(q)
        return seen[:MAX_TOPICS]

    def policies(self, topics: list[str], region: str | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cited: set[str] = set()
        for q in topics:
            ans = self.assistant.answer_offline(q, prefer_region=region)
            if ans.refused or not ans.citations:
                continue
            key = ans.citations[0].hit.chunk_id
            if key in cited:
                continue
            cited.add(key)
            items.append({"topic": q, "text": CHECK_WORDING + ans.answer, "answer": ans.answer,
                          "citations": [c.to_dict() for c in ans.citations]})
        return items

    def brief(self, user: User, household_id: int) -> dict[str, Any]:
        h = self.roster.get(user, household_id, log=False)
        recent = self.book.for_household(user, household_id, limit=5)
        open_items = [f for v in recent for f in v["followups"] if f["status"] == "open"]
        tag_names = h.tags + [t for m in h.people for t in json.loads(m["tags_json"]) if t not in h.tags]
        topics = self._topics(tag_names, recent)
        juwei = h.row["juwei"]
        region = self.roster.regions.tree().path(juwei)
        prefer = next((r for r in reversed(region) if r in self.roster.regions.base_names()), None)
        items = self.policies(topics, prefer)
        self.access.record(user, Access.READ, "household", [household_id], {"brief": True})
        return {
            "household_id": household_id, "address": address_text(h.row["xiaoqu"], h.row["building"], h.row["room"]),
            "juwei": juwei, "tags": h.tags, "status": h.row["status"], "last_risk": h.row["last_risk"],
            "demo": bool(h.row["demo"]),
            "members": [{"name": m["name"], "relation": m["relation"], "birth_year": m["birth_year"]} for m in h.people],
            "last_visits": [{"id": v["id"], "lines": _two_lines(v)} for v in recent[:3]],
            "open_followups": open_items,
            "checklist": self.tags.checklist(tag_names),
            "policies": items,
            "policies_note": "" if items else NOTHING_FOUND,
            "topics": topics,
        }

    def emergency(self, signs: list[str], region: str | None = None) -> dict[str, Any]:
        """What to do now, for an urgent record: the knowledge base's cited steps and always 110,
        119 and 120."""
        steps: list[dict[str, Any]] = []
        for sign in signs[:2]:
            ans = self.assistant.answer_offline(f"居民{sign}，社工现场应该怎么处置", prefer_region=region)
            if not ans.refused and ans.citations:
                steps.append({"sign": sign, "answer": ans.answer, "citations": [c.to_dict() for c in ans.citations]})
        return {"numbers": EMERGENCY_NUMBERS, "steps": steps,
                "note": "" if steps else "知识库中没有找到相关的处置步骤；情况危急时请直接拨打下面的电话。"}
