"""Analyse: what the question is and what it asks for.

The question is checked (not empty, not too long), its resident ID and mobile numbers dropped,
and normalised like the documents (Traditional to Simplified, full-width letters and digits). A
short follow-up is made standalone (by the LLM when one is configured, else by carrying the
earlier question's terms). Requests that rules handle are recognised here: prompt injection and
bulk personal data (refused), greetings and questions about the assistant (a self-introduction).

>>> a = analyse("宜川路街道考取初级社工证的奖励是多少钱？", [])       # doctest: +SKIP
>>> a.terms.kind
'amount'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.errors import ShegongError, ValidationError
from app.core.text import drop_pii, normalize_query
from app.rag.guards import asks_personal_data, is_injection, kind_of_chat
from app.rag.terms import QuestionTerms, specific_terms
from app.rag.terms import analyse as read_terms

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
# A turn that leans on the one before it ("那要准备哪些材料？", "这个还有效吗？").
_REFERS_BACK = re.compile(r"^(?:那|那么|这个|这|它|他|她|其|上述|还有|另外|然后|如果|要是|同时)|这个|那个|上面|刚才|前面说的|还要|还需要")
# Words a text uses for what is asked, which the question seldom says: BM25 only.
_KIND_WORDS = {"frequency": "频次 每月 每周 一次"}


class Condenser(Protocol):
    def condense(self, question: str, history: Sequence[dict[str, str]]) -> str: ...


@dataclass
class Analysis:
    question: str  # normalised, personal numbers dropped
    search_query: str  # what dense search embeds (a follow-up carries its earlier question)
    lexical_query: str  # what BM25 reads
    terms: QuestionTerms
    guard: str | None = None  # "injection" | "personal_data": refused without retrieval
    chat: str | None = None  # "greeting" | "capability": answered with the self-introduction


def validate_question(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise ValidationError("问题不能为空。")
    if len(q) > MAX_QUESTION_CHARS:
        raise ValidationError(f"问题太长：{len(q)} 个字，最多 {MAX_QUESTION_CHARS} 个字。请只保留要问的内容。")
    return q


def analyse(question: str, history: Sequence[dict[str, str]] | None, condenser: Condenser | None = None) -> Analysis:
    q = normalize_query(drop_pii(validate_question(question)))
    guard = "injection" if is_injection(q) else "personal_data" if asks_personal_data(q) else None
    search_q, lexical_q, terms = _resolve(q, history or [], condenser)
    if terms.kind in _KIND_WORDS:
        lexical_q = f"{lexical_q} {_KIND_WORDS[terms.kind]}"
    chat = kind_of_chat(q) if guard is None and not history else None
    return Analysis(q, search_q, lexical_q, terms, guard, chat)


def _resolve(
    question: str, history: Sequence[dict[str, str]], condenser: Condenser | None
) -> tuple[str, str, QuestionTerms]:
    """(search query, lexical query, terms) for a question in its conversation."""
    users = [normalize_query(t.get("content", "")) for t in history if t.get("role") == "user"]
    users = [u for u in users if u]
    terms = read_terms(question)
    if not users:
        return question, question, terms
    follow_up = len(terms.terms) <= 2 or bool(_REFERS_BACK.search(question)) or len(question) <= 12
    if not follow_up:
        return question, question, terms
    if condenser is not None:
        try:
            standalone = normalize_query(condenser.condense(question, history))
            own = specific_terms(question)
            if all(t in standalone for t in own):
                return standalone, standalone, read_terms(standalone)
            # a small model may copy an earlier turn and drop what the follow-up asks about
            log.info("condensed question lost the follow-up's terms; expanding offline")
        except ShegongError as exc:
            log.warning("condense failed, expanding offline: %s", exc)
    previous = users[-1]
    carried = [t for t in specific_terms(previous) if t not in terms.terms][:6]
    merged = QuestionTerms(question, tuple(sorted(set(terms.terms) | set(carried), key=len, reverse=True)),
                           terms.kind, terms.prohibition, terms.items)
    return f"{previous} {question}", f"{question} {' '.join(carried)}", merged
