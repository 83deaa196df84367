"""Retrieve: the passages a question is answered from.

Hybrid search (dense in Chroma + BM25, over-fetched and fused, the worker's region ranked up);
rules past their ``effective_to`` are left out unless the question asks about them (then a note
says when the rule ended and what replaced it); a section of the top document that the question
names comes first; a broad question about a whole guide gets the guide's outline.

>>> ev = retrieve(analysis, retriever, passages=6)      # doctest: +SKIP
>>> [h.title for h in ev.hits][:2]                       # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from app.core.types import Hit
from app.rag.answerer import Draft
from app.rag.outline import asked_section, covers_title, outline
from app.rag.pipeline.analyse import Analysis
from app.rag.retriever import Filters, Retriever

# A question about an old or ended rule keeps it ("2021版……还有效吗？").
_ASKS_ABOUT_OLD = re.compile(r"(?:19|20)\d\d\s*(?:年|版)|旧版|老版|原来|以前|过去|废止|失效|还有效|是否有效|还在执行|还执行")
EXTRA = 4  # fetched beyond the passages read, so that rules left out for their dates leave enough


@dataclass
class Evidence:
    hits: list[Hit]  # the passages answering reads, best first
    retrieved: list[Hit]  # everything retrieval returned (what the evaluator scores recall on)
    notes: list[str] = field(default_factory=list)  # "注意：《…》已于…失效"
    named: bool = False  # the first passage is a section the question names
    outline: Draft | None = None  # a guide's outline, one line per section (hits are its parts)


def retrieve(
    a: Analysis,
    retriever: Retriever,
    *,
    passages: int,
    filters: Filters | None = None,
    prefer_region: str | None = None,
) -> Evidence:
    found = retriever.search(a.search_query, passages + EXTRA, filters=filters, prefer_region=prefer_region,
                             lexical_query=a.lexical_query)
    kept, notes = _dated(a.question, found, retriever)
    hits = kept[:passages]
    hits, named = _asked_section(a.question, hits, retriever, passages)
    ev = Evidence(hits, found, notes, named)
    if not named and not a.terms.prohibition:
        made = _outline(a, hits, retriever, passages)
        if made is not None:
            ev.outline, ev.hits = made
    return ev


def _dated(question: str, hits: list[Hit], retriever: Retriever) -> tuple[list[Hit], list[str]]:
    """Drop rules no longer in force unless the question asks about them; notes for the answer."""
    today = dt.date.today().isoformat()
    expired = [h for h in hits if h.effective_to and h.effective_to <= today]
    if not expired:
        return hits, []
    if not _ASKS_ABOUT_OLD.search(question):
        return [h for h in hits if h not in expired], []
    notes = []
    for h in expired:
        note = f"注意：《{h.title}》已于{h.effective_to}失效"
        if h.replaced_by:
            note += f"，已被《{retriever.doc_title(h.replaced_by) or h.replaced_by}》替代"
        if note + "。" not in notes:
            notes.append(note + "。")
    return hits, notes


def _asked_section(q: str, hits: list[Hit], retriever: Retriever, passages: int) -> tuple[list[Hit], bool]:
    """A question that names a section of the best document ("走访时怎么提醒老人防诈骗？") gets
    that section as its first passage: every chunk of a guide shares the title's words, so the
    section the question names does not always rank first on its own."""
    if not hits:
        return hits, False
    manifest = retriever.manifest
    section = asked_section(q, list(manifest.chunks(manifest.chunk_ids_of(hits[0].doc_id))))
    if section is None:
        return hits, False
    rest = [h for h in hits if h.chunk_id != section.chunk_id]
    first = next((h for h in hits if h.chunk_id == section.chunk_id), None)
    # a section fetched from the manifest takes the top hit's scores (that hit stays in the list)
    first = first or Hit.from_chunk(section, hits[0].score, hits[0].dense, None)
    return [first, *rest][:passages], True


def _outline(a: Analysis, hits: list[Hit], retriever: Retriever, passages: int) -> tuple[Draft, list[Hit]] | None:
    """A broad question about a whole guide ("第一次上门走访独居老人要注意什么？"): its outline."""
    if a.terms.kind not in ("procedure", "list") or not hits or not covers_title(a.terms, hits[0].title):
        return None
    manifest = retriever.manifest
    doc = manifest.document(hits[0].doc_id, with_text=True)
    if doc is None:
        return None
    made = outline(hits[0], doc.text, list(manifest.chunks(manifest.chunk_ids_of(doc.doc_id))))
    if made is None:
        return None
    draft, parts = made
    seen = {h.chunk_id for h in parts}
    return draft, [*parts, *(h for h in hits if h.chunk_id not in seen)][: max(passages, len(parts))]
