"""The one ``Assistant`` that the API, the UI, the CLI and the evaluator all ask.

It runs the question pipeline (``app/rag/pipeline``), one stage after the other:
analyse -> retrieve -> select -> assess -> answer -> cite. ``chat_stream`` is the pipeline;
``chat`` collects it.

>>> a = build_assistant(settings)                                # doctest: +SKIP
>>> a.chat("第一次上门走访独居老人要注意什么？").answer            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import UnavailableError
from app.core.text import drop_pii, normalize_query
from app.core.types import Answer, Citation, Hit
from app.rag.answerer import Draft
from app.rag.articles import article_holding, article_rules
from app.rag.llm import LLMAnswerer, LLMError
from app.rag.pipeline.analyse import MAX_QUESTION_CHARS, Analysis, analyse, validate_question
from app.rag.pipeline.answer import (
    Answerer,
    ComposeConfig,
    ExtractiveAnswerer,
    LLMStreamAnswerer,
    extractive_draft,
)
from app.rag.pipeline.assess import Assessment, assess
from app.rag.pipeline.cite import REFUSAL_TEXT, Citer, renumber
from app.rag.pipeline.retrieve import Evidence, retrieve
from app.rag.pipeline.select import Scored, SentenceSelector, keep_asked
from app.rag.retriever import Filters, Retriever

log = logging.getLogger(__name__)

__all__ = ["MAX_QUESTION_CHARS", "REFUSAL_TEXT", "Answer", "Assistant", "Citation", "renumber"]


@dataclass
class Turn:
    """What the stages found for one question, before the answer is written."""

    analysis: Analysis
    evidence: Evidence
    scored: list[Scored]
    verdict: Assessment
    draft: Draft
    t0: float
    t1: float


class Assistant:
    """Answers questions from one knowledge base; thread-safe for concurrent requests."""

    def __init__(
        self,
        retriever: Retriever,
        selector: SentenceSelector,
        *,
        llm: LLMAnswerer | None = None,
        answer_passages: int = 6,
    ) -> None:
        if selector.model is None:
            raise ValueError("the assistant needs a selector with a model")
        if answer_passages <= 0:
            raise ValueError("answer_passages must be positive")
        self.retriever = retriever
        self.selector = selector
        self.llm = llm
        self.answerer: Answerer = LLMStreamAnswerer(llm) if llm is not None else ExtractiveAnswerer()
        self.citer = Citer(retriever)
        self.answer_passages = answer_passages

    @property
    def threshold(self) -> float:
        assert self.selector.model is not None
        return self.selector.model.threshold

    def warm_up(self) -> None:
        """Load the model, the indexes and jieba now, so the first worker does not wait for them.
        A vector server that is away does not stop start-up: chat says so (503) until it is back."""
        self.retriever.embedder.embed_query("预热")
        try:
            self.chat("社区工作者走访要注意什么")
        except UnavailableError as exc:
            log.warning("warm-up without the vector store: %s", exc)

    def search(
        self, query: str, k: int = 10, *, filters: Filters | None = None, prefer_region: str | None = None
    ) -> list[Hit]:
        return self.retriever.search(drop_pii(validate_question(query)), k, filters=filters, prefer_region=prefer_region)

    # -- the stages up to the answer ----------------------------------------------------------------
    def prepare(
        self,
        question: str,
        history: Sequence[dict[str, str]] | None = None,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
        use_llm: bool = True,
    ) -> Turn:
        """analyse -> retrieve -> select -> assess, and the extractive draft."""
        t0 = time.perf_counter()
        a = analyse(question, history, self.llm if use_llm else None)
        if a.guard is not None or a.chat is not None:
            ev = Evidence([], [])
        else:
            ev = retrieve(a, self.retriever, passages=self.answer_passages, filters=filters,
                          prefer_region=prefer_region)
        t1 = time.perf_counter()
        scored: list[Scored] = []
        if ev.hits:
            qvec = self.retriever.query_vector(normalize_query(a.search_query))
            scored = self.selector.score(a.terms, qvec, ev.hits)
        kept, asked = keep_asked(a.question, scored)
        threshold = self.threshold_for(ev, kept)
        verdict = assess(a, ev, scored, threshold, self.retriever.idf, asked=asked, kept=kept)
        model = self.selector.model
        assert model is not None
        cfg = ComposeConfig(**{"article_chars": article_rules().answer_chars, **model.compose})
        draft = extractive_draft(a, ev, kept, threshold, cfg, lambda hit: self._following(ev.hits, hit))
        return Turn(a, ev, kept, verdict, draft, t0, t1)

    def threshold_for(self, ev: Evidence, best_first: Sequence[Scored]) -> float:
        """The refusal threshold: the model's, or ``rules/articles.yaml``'s where the best sentence
        stands in a numbered article (a statute's articles score lower for a worker's wording)."""
        if best_first:
            best = best_first[0]
            if article_holding(ev.hits[best.hit_index].text, best.text) is not None:
                return article_rules().threshold
        return self.threshold

    def _following(self, hits: list[Hit], hit: Hit) -> tuple[str, int] | None:
        """The passage after ``hit`` in its document and its index in ``hits`` (added there, after
        what was retrieved, so that a line reading on into it cites it too)."""
        nxt = self.retriever.following(hit.chunk_id)
        if nxt is None:
            return None
        j = next((k for k, h in enumerate(hits) if h.chunk_id == nxt.chunk_id), None)
        if j is None:
            hits.append(Hit.from_chunk(nxt, hit.score, None, None))
            j = len(hits) - 1
        return nxt.text, j

    # -- answer and cite ---------------------------------------------------------------------------
    def _events(self, t: Turn) -> Iterator[tuple[str, Any]]:
        """("delta", text) while the answer is written, ("reset", text) when what was streamed is
        replaced by its checked form, then ("done", Answer)."""
        a, ev = t.analysis, t.evidence
        if a.chat is not None:
            ans = self.citer.introduction(a.chat)
            yield "delta", ans.answer
        elif t.verdict.refuse:
            ans = self.citer.refusal(ev.hits, t.verdict)
            yield "delta", ans.answer
        elif self.answerer.mode == "extractive":
            ans = self.citer.extractive(t.draft, ev.hits, ev.notes)
            yield "delta", ans.answer
        else:
            pieces: list[str] = []
            try:
                for piece in self.answerer.stream(a.question, ev.hits, t.draft):
                    pieces.append(piece)
                    yield "delta", piece
                ans = self.citer.llm("".join(pieces), t.draft, ev.hits, ev.notes)
            except LLMError as exc:
                log.warning("LLM answer failed, falling back: %s", exc)
                ans = self.citer.fallback(t.draft, ev.hits, ev.notes, str(exc))
            if ans.mode != "llm" or ans.answer != "".join(pieces):
                # markers pointing nowhere, no markers, notes added or a failure: replace what was
                # streamed, so no client keeps the unchecked text
                yield "reset", ans.answer
        yield "done", self._stamp(ans, t)

    @staticmethod
    def _stamp(ans: Answer, t: Turn) -> Answer:
        t2 = time.perf_counter()
        ans.search_query = t.analysis.search_query
        ans.hits = list(t.evidence.retrieved)
        if ans.score is None and t.scored:
            ans.score = t.scored[0].p
        ans.timings_ms = {
            "retrieve": round((t.t1 - t.t0) * 1000, 1),
            "answer": round((t2 - t.t1) * 1000, 1),
            "total": round((t2 - t.t0) * 1000, 1),
        }
        return ans

    def chat_stream(
        self,
        question: str,
        history: Sequence[dict[str, str]] | None = None,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events: ``{"type": "delta", "text"}`` while the answer is written, ``{"type": "reset",
        "text"}`` when it is replaced, then ``{"type": "done", "answer": {...}}``."""
        t = self.prepare(question, history, filters=filters, prefer_region=prefer_region)
        for kind, value in self._events(t):
            yield {"type": kind, "answer": value.to_dict()} if kind == "done" else {"type": kind, "text": value}

    def answer_offline(self, question: str, *, prefer_region: str | None = None) -> Answer:
        """The extractive answer, never through the LLM: for questions made from residents' data
        (a visit brief), which must not leave the machine unasked."""
        t = self.prepare(question, None, prefer_region=prefer_region, use_llm=False)
        if t.analysis.chat is not None:
            ans = self.citer.introduction(t.analysis.chat)
        elif t.verdict.refuse:
            ans = self.citer.refusal(t.evidence.hits, t.verdict)
        else:
            ans = self.citer.extractive(t.draft, t.evidence.hits, t.evidence.notes)
        return self._stamp(ans, t)

    def chat(
        self,
        question: str,
        history: Sequence[dict[str, str]] | None = None,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
    ) -> Answer:
        """The whole answer at once: what ``chat_stream`` ends with."""
        t = self.prepare(question, history, filters=filters, prefer_region=prefer_region)
        done = [value for kind, value in self._events(t) if kind == "done"]
        return done[-1]
