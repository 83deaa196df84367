"""Answer: the text, extractive or from an LLM, behind one ``Answerer`` protocol; both stream.

The extractive draft is always made (offline it is the answer; with an LLM it is the fallback
when the model fails or cites nothing): the best-scored sentence, then the others good enough to
stand beside it, in reading order, each with its ``[n]`` marker. A guide's outline and a section
the question names (found by the retrieve stage) are answered in their own order.

>>> ans = ExtractiveAnswerer()                            # doctest: +SKIP
>>> "".join(ans.stream(question, hits, draft))            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.types import Hit
from app.rag.answerer import Draft, draft_of, section_draft
from app.rag.llm import LLMAnswerer
from app.rag.pipeline.analyse import Analysis
from app.rag.pipeline.retrieve import Evidence
from app.rag.pipeline.select import Scored
from app.rag.terms import QuestionTerms


class Answerer(Protocol):
    mode: str  # "extractive" | "llm"

    def stream(self, question: str, hits: Sequence[Hit], draft: Draft) -> Iterator[str]:
        """Pieces of the answer text, with ``[n]`` markers into ``hits``."""
        ...


class ExtractiveAnswerer:
    """The extractive draft, as one piece."""

    mode = "extractive"

    def stream(self, question: str, hits: Sequence[Hit], draft: Draft) -> Iterator[str]:
        if draft.text:
            yield draft.text


class LLMStreamAnswerer:
    """The configured OpenAI-compatible model, streamed; raises ``LLMError`` on failure."""

    mode = "llm"

    def __init__(self, llm: LLMAnswerer) -> None:
        self.llm = llm

    def stream(self, question: str, hits: Sequence[Hit], draft: Draft) -> Iterator[str]:
        yield from self.llm.stream(question, hits)


@dataclass(frozen=True)
class ComposeConfig:
    """How many selected sentences make an answer. ``keep``: a further sentence joins when its
    probability is at least this share of the best one's (and at least ``min_p``);
    lists and procedures take more lines. Read from the model file, where the training script
    records the values chosen on the development split."""

    keep: float = 0.5
    keep_many: float = 0.3
    min_p: float | None = None  # a further line's least probability (None: the refusal threshold)
    max_lines: int = 3
    max_lines_many: int = 6
    max_chars: int = 260


def extractive_draft(a: Analysis, ev: Evidence, scored: Sequence[Scored], threshold: float,
                     cfg: ComposeConfig) -> Draft:
    if ev.outline is not None:
        return ev.outline
    if ev.named and a.terms.kind in ("list", "procedure") and ev.hits:
        return section_draft(ev.hits[0], cfg.max_chars * 2)
    return compose(scored, a.terms, threshold, cfg)


def compose(scored: Sequence[Scored], terms: QuestionTerms, threshold: float, cfg: ComposeConfig) -> Draft:
    """The best sentence, then the others good enough to stand beside it, in reading order."""
    if not scored:
        return Draft("", "extractive")
    many = terms.kind in ("list", "procedure") or terms.items
    best = scored[0]
    share = cfg.keep_many if many else cfg.keep
    limit = cfg.max_chars * (2 if many else 1)
    lines = cfg.max_lines_many if many else cfg.max_lines
    chosen = [best]
    used = len(best.text)
    floor = threshold if cfg.min_p is None else cfg.min_p
    for s in scored[1:]:
        if len(chosen) >= lines:
            break
        if s.p < floor or s.p < share * best.p or used + len(s.text) > limit:
            continue
        if any(s.text == c.text for c in chosen):
            continue
        chosen.append(s)
        used += len(s.text)
    chosen.sort(key=lambda s: (s.hit_index, s.position))
    return draft_of([(s.hit_index, s.text) for s in chosen])
