"""Assess: answer or say “知识库中没有找到”.

One number decides: the selector's best probability that a sentence of the evidence answers the
question, against the threshold chosen on the development split when the model was trained
(``threshold`` in ``app/rag/models/selector.json``), or, where that sentence stands in a numbered
article of a statute, the articles' own threshold (``rules/articles.yaml``, chosen on development
laws the model never saw; the caller picks it). Requests the analyse stage recognised by rule
(prompt injection, residents' personal data in bulk) are refused before any score is read. A
question that asks for a number, an amount or the papers to bring (``rules/asked.yaml``) is refused when
none of the best sentences holds one (``asked_missing``): the select stage has kept only those.

>>> assess(analysis, evidence, scored, threshold=0.3).refuse     # doctest: +SKIP
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.rag.answerer import IdfFn, flat_idf
from app.rag.asked import AskedType
from app.rag.pipeline.analyse import Analysis
from app.rag.pipeline.retrieve import Evidence
from app.rag.pipeline.select import Scored


@dataclass
class Assessment:
    refuse: bool
    reason: str  # "" | injection | personal_data | no_hits | low_score | asked_missing
    score: float = 0.0  # the best sentence's probability of answering
    threshold: float = 0.0
    off_topic: bool = False  # most of what the question is about stands in no passage
    missing: tuple[str, ...] = ()  # what was asked and is not stated (labels of rules/asked.yaml)


def assess(a: Analysis, ev: Evidence, scored: Sequence[Scored], threshold: float, idf: IdfFn = flat_idf,
           *, asked: Sequence[AskedType] = (), kept: Sequence[Scored] | None = None) -> Assessment:
    """``scored``: every sentence, best first; ``kept``: those holding what ``asked`` names (the
    select stage's ``keep_asked``; None: all of them)."""
    if a.guard is not None:
        return Assessment(True, a.guard, threshold=threshold)
    if not ev.hits or not scored:
        return Assessment(True, "no_hits", threshold=threshold, off_topic=True)
    if kept is not None and asked and not kept:
        return Assessment(True, "asked_missing", scored[0].p, threshold, missing=_labels(asked))
    best = (scored if kept is None else kept)[0].p
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


def _labels(asked: Sequence[AskedType]) -> tuple[str, ...]:
    """What the refusal says is not stated: the specific kinds asked, else “具体数字”."""
    specific = tuple(t.label for t in asked if t.name != "number")
    return specific or tuple(t.label for t in asked)
