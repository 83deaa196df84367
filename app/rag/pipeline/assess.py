"""Assess: answer or say “知识库中没有找到”.

One number decides: the selector's best probability that a sentence of the evidence answers the
question, against the one threshold chosen on the development split when the model was trained
(``threshold`` in ``app/rag/models/selector.json``). Requests the analyse stage recognised by rule
(prompt injection, residents' personal data in bulk) are refused before any score is read.

>>> assess(analysis, evidence, scored, threshold=0.3).refuse     # doctest: +SKIP
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.rag.answerer import IdfFn, flat_idf
from app.rag.pipeline.analyse import Analysis
from app.rag.pipeline.retrieve import Evidence
from app.rag.pipeline.select import Scored


@dataclass
class Assessment:
    refuse: bool
    reason: str  # "" | injection | personal_data | no_hits | low_score
    score: float = 0.0  # the best sentence's probability of answering
    threshold: float = 0.0
    off_topic: bool = False  # most of what the question is about stands in no passage


def assess(a: Analysis, ev: Evidence, scored: Sequence[Scored], threshold: float, idf: IdfFn = flat_idf) -> Assessment:
    if a.guard is not None:
        return Assessment(True, a.guard, threshold=threshold)
    if not ev.hits or not scored:
        return Assessment(True, "no_hits", threshold=threshold, off_topic=True)
    best = scored[0].p
    if best >= threshold:
        return Assessment(False, "", best, threshold)
    return Assessment(True, "low_score", best, threshold, _off_topic(a, ev, idf))


def _off_topic(a: Analysis, ev: Evidence, idf: IdfFn) -> bool:
    """Whether the refusal should say what the assistant is for: less than half of the question's
    terms, weighted by rarity, stand anywhere in the passages (it changes the wording only)."""
    terms = a.terms.terms
    if not terms:
        return False
    text = "\n".join(f"{h.title} {h.heading} {h.text}" for h in ev.hits)
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    return sum(w for t, w in weights.items() if t in text) / total < 0.5
