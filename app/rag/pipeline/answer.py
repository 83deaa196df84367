"""Answer: the text, extractive or from an LLM, behind one ``Answerer`` protocol; both stream.

The extractive draft is always made (offline it is the answer; with an LLM it is the fallback
when the model fails or cites nothing): the best-scored sentence, then the others good enough to
stand beside it, in reading order, each with its ``[n]`` marker. A guide's outline and a section
the question names (found by the retrieve stage) are answered in their own order.

>>> ans = ExtractiveAnswerer()                            # doctest: +SKIP
>>> "".join(ans.stream(question, hits, draft))            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.types import Hit
from app.rag.answerer import Draft, draft_of, section_draft
from app.rag.articles import article_reading_on, last_article
from app.rag.llm import LLMAnswerer
from app.rag.pipeline.analyse import Analysis
from app.rag.pipeline.retrieve import Evidence
from app.rag.pipeline.select import Scored
from app.rag.terms import QuestionTerms

Follow = Callable[[Hit], tuple[str, int] | None]  # a passage's next one in its document: (text, its index in the hits)


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
    article_chars: int = 0  # lines become their whole articles (第…条) while the answer stays this short (0: never)


def extractive_draft(a: Analysis, ev: Evidence, scored: Sequence[Scored], threshold: float,
                     cfg: ComposeConfig, follow: Follow | None = None) -> Draft:
    if ev.outline is not None:
        return ev.outline
    if ev.named and a.terms.kind in ("list", "procedure") and ev.hits:
        return section_draft(ev.hits[0], cfg.max_chars * 2)
    return compose(scored, a.terms, threshold, cfg, ev.hits, follow)


def compose(scored: Sequence[Scored], terms: QuestionTerms, threshold: float, cfg: ComposeConfig,
            hits: Sequence[Hit] | None = None, follow: Follow | None = None) -> Draft:
    """The best sentence, then the others good enough to stand beside it, in reading order. With
    ``cfg.article_chars``, a chosen sentence in a numbered article (第…条) brings its whole article
    (continued into the next passage of its document, ``follow``, where the chunk size cut it)
    while the answer stays within ``article_chars``; the best sentence's article comes first."""
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
    texts = {id(s): (s.text, list[int]()) for s in chosen}
    if cfg.article_chars and hits is not None:
        texts = _as_articles(chosen, hits, follow, cfg.article_chars)
    chosen = [s for s in chosen if id(s) in texts]
    chosen.sort(key=lambda s: (s.hit_index, s.position))
    made = [texts[id(s)] for s in chosen]
    also = [more for _, more in made] if any(more for _, more in made) else None
    return draft_of([(s.hit_index, text) for s, (text, _) in zip(chosen, made, strict=True)], also)


def _as_articles(chosen: Sequence[Scored], hits: Sequence[Hit], follow: Follow | None,
                 budget: int) -> dict[int, tuple[str, list[int]]]:
    """Each chosen sentence's line, and the further passages it cites: its whole article where that
    fits the budget (best first), once per article, citing the next passage too where the article
    goes on there; a sentence whose article is already a line is left out."""
    out: dict[int, tuple[str, list[int]]] = {}
    taken: set[str] = set()
    used = sum(len(s.text) for s in chosen)
    for s in chosen:
        hit = hits[s.hit_index]
        found = article_reading_on(hit.text, s.text)
        nxt = follow(hit) if found is not None and follow is not None and last_article(hit.text, s.text) else None
        if nxt is not None:
            found = article_reading_on(hit.text, s.text, nxt[0])
        if found is not None and found[0] in taken:
            used -= len(s.text)
            continue
        if found is not None and used - len(s.text) + len(found[0]) <= budget:
            art, read_on = found
            out[id(s)] = (art, [nxt[1]] if read_on and nxt is not None else [])
            taken.add(art)
            used += len(art) - len(s.text)
        else:
            out[id(s)] = (s.text, [])
    return out
