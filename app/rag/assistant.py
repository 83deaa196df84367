"""The one ``Assistant`` that the API, the UI, the CLI and the evaluator all ask.

question -> normalise -> (follow-up resolution) -> retriever (dense + BM25, fused) -> date and
region handling -> answerer (LLM with prompts/ | extractive) -> refusal check -> Answer with
citations and timings.

>>> a = build_assistant(settings)                                # doctest: +SKIP
>>> a.chat("第一次上门走访独居老人要注意什么？").answer            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.errors import ValidationError
from app.rag.answerer import Draft, ExtractiveAnswerer, draft_of, markers
from app.rag.llm import LLMAnswerer, LLMError
from app.rag.outline import asked_section, covers_title, outline
from app.rag.refusal import Assessment, RefusalConfig, assess
from app.rag.retriever import Filters, Hit, Retriever
from app.rag.terms import QuestionTerms, analyse, specific_terms
from app.schemas import Chunk
from ingest.cleaners import drop_pii, normalize_query

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
REFUSAL_TEXT = "知识库中没有找到能回答这个问题的内容。"
_REFERS_BACK = re.compile(r"^(?:那|那么|这个|这|它|他|她|其|上述|还有|另外|然后|如果|要是|同时)|这个|那个|上面|刚才|前面说的|还要|还需要")
_ASKS_ABOUT_OLD = re.compile(r"(?:19|20)\d\d\s*(?:年|版)|旧版|老版|原来|以前|过去|废止|失效|还有效|是否有效|还在执行|还执行")
_LOCAL_REGIONS_EXEMPT = ("全国", "未注明", "")


@dataclass
class Citation:
    n: int
    hit: Hit

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, **self.hit.to_dict()}


@dataclass
class Answer:
    answer: str
    refused: bool
    mode: str  # extractive | llm | extractive_fallback
    citations: list[Citation] = field(default_factory=list)
    nearest: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # why it refused, or why the LLM was not used
    search_query: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "nearest": self.nearest,
            "timings_ms": self.timings_ms,
            "reason": self.reason,
        }


@dataclass
class _Turn:
    q: str
    search_query: str
    hits: list[Hit]
    notes: list[str]
    draft: Draft
    verdict: Assessment
    t0: float
    t1: float


def validate_question(question: str) -> str:
    q = (question or "").strip()
    if not q:
        raise ValidationError("问题不能为空。")
    if len(q) > MAX_QUESTION_CHARS:
        raise ValidationError(f"问题太长：{len(q)} 个字，最多 {MAX_QUESTION_CHARS} 个字。请只保留要问的内容。")
    return q


_KIND_WORDS = {"frequency": "频次 每月 每周 一次"}


class Assistant:
    """Answers questions from one knowledge base; thread-safe for concurrent requests."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        llm: LLMAnswerer | None = None,
        refusal: RefusalConfig | None = None,
        answer_passages: int = 6,
    ) -> None:
        self.retriever = retriever
        self.extractive = ExtractiveAnswerer(retriever.idf)
        self.llm = llm
        self.refusal = refusal or RefusalConfig()
        self.answer_passages = answer_passages
        self._originals: dict[str, str] = {}
        self._originals_gen = -1

    def warm_up(self) -> None:
        """Load the model, the indexes and jieba now, so the first worker does not wait for them."""
        self.retriever.embedder.embed_query("预热")
        self.retriever.search("社区工作者走访", 1)

    # ------------------------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, *, filters: Filters | None = None, prefer_region: str | None = None
    ) -> list[Hit]:
        return self.retriever.search(drop_pii(validate_question(query)), k, filters=filters, prefer_region=prefer_region)

    # ------------------------------------------------------------------------------------------
    def _resolve(self, question: str, history: Sequence[dict[str, str]]) -> tuple[str, str, QuestionTerms]:
        """(search query, lexical query, terms to check) for a question in its conversation."""
        users = [normalize_query(t.get("content", "")) for t in history if t.get("role") == "user"]
        users = [u for u in users if u]
        terms = analyse(question)
        if not users:
            return question, question, terms
        follow_up = len(terms.terms) <= 2 or bool(_REFERS_BACK.search(question)) or len(question) <= 12
        if not follow_up:
            return question, question, terms
        if self.llm is not None:
            try:
                standalone = normalize_query(self.llm.condense(question, history))
                own = specific_terms(question)
                if all(t in standalone for t in own):
                    return standalone, standalone, analyse(standalone)
                # a small model may copy an earlier turn and drop what the follow-up asks about
                log.info("condensed question lost the follow-up's terms; expanding offline")
            except LLMError as exc:
                log.warning("condense failed, expanding offline: %s", exc)
        previous = users[-1]
        carried = [t for t in specific_terms(previous) if t not in terms.terms][:6]
        expanded = f"{previous} {question}"
        merged = QuestionTerms(question, tuple(sorted(set(terms.terms) | set(carried), key=len, reverse=True)),
                               terms.kind)
        return expanded, f"{question} {' '.join(carried)}", merged

    def _dated(self, question: str, hits: list[Hit]) -> tuple[list[Hit], list[str]]:
        """Drop rules no longer in force unless the question asks about them; notes for the answer."""
        today = dt.date.today().isoformat()
        expired = [h for h in hits if h.effective_to and h.effective_to <= today]
        if not expired:
            return hits, []
        if _ASKS_ABOUT_OLD.search(question):
            notes = []
            for h in expired:
                note = f"注意：《{h.title}》已于{h.effective_to}失效"
                if h.replaced_by:
                    title = self.retriever.doc_title(h.replaced_by) or h.replaced_by
                    note += f"，已被《{title}》替代"
                if note + "。" not in notes:
                    notes.append(note + "。")
            return hits, notes
        return [h for h in hits if h not in expired], []

    def _retrieve(
        self, question: str, history: Sequence[dict[str, str]], filters: Filters | None, prefer_region: str | None
    ) -> tuple[str, QuestionTerms, list[Hit], list[str]]:
        search_q, lexical_q, terms = self._resolve(question, history)
        if terms.kind in _KIND_WORDS:
            # the words a text uses for what is asked ("频次", "每月"), which the question seldom says
            lexical_q = f"{lexical_q} {_KIND_WORDS[terms.kind]}"
        hits = self.retriever.search(
            search_q, self.answer_passages + 4, filters=filters, prefer_region=prefer_region, lexical_query=lexical_q
        )
        hits, notes = self._dated(question, hits)
        return search_q, terms, hits[: self.answer_passages], notes

    # ------------------------------------------------------------------------------------------
    def _evidence(
        self, question: str, history: Sequence[dict[str, str]] | None, filters: Filters | None,
        prefer_region: str | None,
    ) -> _Turn:
        """Everything chat and chat_stream share: retrieval, the extractive draft, the verdict."""
        t0 = time.perf_counter()
        q = normalize_query(drop_pii(validate_question(question)))
        search_q, terms, hits, notes = self._retrieve(q, history or [], filters, prefer_region)
        t1 = time.perf_counter()
        hits, named = self._asked_section(q, hits)
        guide = None if named or terms.prohibition else self._outline(terms, hits)
        if guide is not None:
            draft, hits = guide
        elif named and terms.kind in ("list", "procedure"):
            draft = self.extractive.section(hits[0])
        else:
            draft = self.extractive.answer(q, hits, terms)
        verdict = assess(q, terms, hits, draft, self.refusal, self.retriever.idf)
        return _Turn(q, search_q, hits, notes, draft, verdict, t0, t1)

    def _asked_section(self, q: str, hits: list[Hit]) -> tuple[list[Hit], bool]:
        """A question that names a section of the best document ("走访时怎么提醒老人防诈骗？")
        gets that section as its first passage: every chunk of a guide shares the title's words,
        so the section the question names does not always rank first on its own."""
        if not hits:
            return hits, False
        manifest = self.retriever.manifest
        section = asked_section(q, list(manifest.chunks(manifest.chunk_ids_of(hits[0].doc_id))))
        if section is None:
            return hits, False
        rest = [h for h in hits if h.chunk_id != section.chunk_id]
        first = next((h for h in hits if h.chunk_id == section.chunk_id), None)
        # a section fetched from the manifest takes the top hit's scores (that hit stays in the list)
        first = first or Hit.from_chunk(section, hits[0].score, hits[0].dense, None)
        return [first, *rest][: self.answer_passages], True

    def _outline(self, terms: QuestionTerms, hits: list[Hit]) -> tuple[Draft, list[Hit]] | None:
        """A broad question about a whole guide ("第一次上门走访独居老人要注意什么？"): its outline."""
        if terms.kind not in ("procedure", "list") or not hits or not covers_title(terms, hits[0].title):
            return None
        manifest = self.retriever.manifest
        doc = manifest.document(hits[0].doc_id, with_text=True)
        if doc is None:
            return None
        made = outline(hits[0], doc.text, list(manifest.chunks(manifest.chunk_ids_of(doc.doc_id))))
        if made is None:
            return None
        draft, parts = made
        seen = {h.chunk_id for h in parts}
        return draft, [*parts, *(h for h in hits if h.chunk_id not in seen)][: max(self.answer_passages, len(parts))]

    @staticmethod
    def _stamp(ans: Answer, turn: _Turn) -> Answer:
        t2 = time.perf_counter()
        ans.search_query = turn.search_query
        ans.timings_ms = {
            "retrieve": round((turn.t1 - turn.t0) * 1000, 1),
            "answer": round((t2 - turn.t1) * 1000, 1),
            "total": round((t2 - turn.t0) * 1000, 1),
        }
        return ans

    def chat(
        self,
        question: str,
        history: Sequence[dict[str, str]] | None = None,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
    ) -> Answer:
        t = self._evidence(question, history, filters, prefer_region)
        ans = self._refused(t.hits, t.verdict) if t.verdict.refuse else self._answer(t.q, t.hits, t.draft, t.notes)
        return self._stamp(ans, t)

    def chat_stream(
        self,
        question: str,
        history: Sequence[dict[str, str]] | None = None,
        *,
        filters: Filters | None = None,
        prefer_region: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events: ``{"type": "delta", "text"}`` while the answer is written, then
        ``{"type": "done", "answer": {...}}`` with the checked answer and its citations."""
        t = self._evidence(question, history, filters, prefer_region)
        if t.verdict.refuse or self.llm is None:
            ans = (self._refused(t.hits, t.verdict) if t.verdict.refuse
                   else self._answer(t.q, t.hits, t.draft, t.notes, use_llm=False))
            yield {"type": "delta", "text": ans.answer}
        else:
            pieces: list[str] = []
            try:
                for piece in self.llm.stream(t.q, t.hits):
                    pieces.append(piece)
                    yield {"type": "delta", "text": piece}
                ans = self._finish_llm("".join(pieces), t.hits, t.draft, t.notes)
                if ans.mode != "llm" or ans.answer != "".join(pieces):
                    # what was streamed is not what is shown: markers pointing nowhere, no markers,
                    # or notes added; replace it, so no client keeps the unchecked text
                    yield {"type": "reset", "text": ans.answer}
            except LLMError as exc:
                log.warning("LLM stream failed, falling back: %s", exc)
                ans = self._fallback(t.hits, t.draft, t.notes, str(exc))
                yield {"type": "reset", "text": ans.answer}
        yield {"type": "done", "answer": self._stamp(ans, t).to_dict()}

    # ------------------------------------------------------------------------------------------
    def _refused(self, hits: Sequence[Hit], verdict: Assessment) -> Answer:
        nearest: list[dict[str, Any]] = []
        if not verdict.injection:
            seen: set[str] = set()
            for h in hits:
                if h.doc_id not in seen:
                    seen.add(h.doc_id)
                    nearest.append({"doc_id": h.doc_id, "title": h.title, "score": round(h.score, 4)})
                if len(nearest) >= 3:
                    break
        text = REFUSAL_TEXT
        if verdict.reason == "injection":
            text = "知识库中没有找到。这个请求与社区工作知识无关，或要求改变助手的规则，无法执行。"
        elif verdict.reason == "personal_data":
            text = ("知识库中没有找到。助手不提供居民的个人信息（姓名、身份证号、电话、住址等）；"
                    "工作需要时，按规定向有权限的部门或系统查询。")
        elif verdict.stated_absent is not None and verdict.stated_absent[0] < len(hits):
            i, sentence = verdict.stated_absent
            note = sentence.replace("**", "").strip().lstrip("-*•· ").strip()
            text += f"资料里写明没有这项内容：“{note}”（《{hits[i].title}》），可以向发文或主管部门核实。"
        elif nearest:
            text += "相关度较高的文档有：" + "、".join(f"《{n['title']}》" for n in nearest) + "，可以人工查阅核实。"
        return Answer(text, True, "extractive", [], nearest, reason=verdict.reason)

    def _answer(self, q: str, hits: list[Hit], draft: Draft, notes: list[str], *, use_llm: bool = True) -> Answer:
        if use_llm and self.llm is not None:
            try:
                return self._finish_llm(self.llm.answer(q, hits).text, hits, draft, notes)
            except LLMError as exc:
                log.warning("LLM answer failed, falling back: %s", exc)
                return self._fallback(hits, draft, notes, str(exc))
        draft, hits = self._cite_originals(draft, hits)
        text, citations = renumber(draft.text, hits)
        return Answer(self._dress(text, citations, notes), False, "extractive", citations)

    def _cite_originals(self, draft: Draft, hits: list[Hit]) -> tuple[Draft, list[Hit]]:
        """A summary whose ``source`` names a document of the knowledge base (our notes in
        knowledge/ name the seed file they summarise) is cited together with the passage of that
        original which says the same thing, so a worker can read the primary text. A passage
        counts when it holds at least half of the sentence's character bigrams."""
        originals = self._original_docs()
        if not originals or not draft.sentences:
            return draft, hits
        hits = list(hits)
        manifest = self.retriever.manifest
        passages: dict[str, list[tuple[Chunk, set[str]]]] = {}  # each original read once per answer
        also: list[list[int]] = []
        for i, sentence in draft.sentences:
            more: list[int] = []
            doc_id = next((originals[name] for name in _SOURCE_FILE.findall(hits[i].source) if name in originals),
                          None) if i < len(hits) else None
            if doc_id is not None and doc_id != hits[i].doc_id:
                if doc_id not in passages:
                    passages[doc_id] = [(c, _bigrams(c.text)) for c in manifest.chunks(manifest.chunk_ids_of(doc_id))]
                best = _best_passage(sentence, passages[doc_id])
                if best is not None:
                    j = next((k for k, h in enumerate(hits) if h.chunk_id == best.chunk_id), None)
                    if j is None:
                        hits.append(Hit.from_chunk(best, hits[i].score, None, None))
                        j = len(hits) - 1
                    more.append(j)
            also.append(more)
        if not any(also):
            return draft, hits
        return draft_of(draft.sentences, also), hits

    def _original_docs(self) -> dict[str, str]:
        """File name -> doc_id for every document, rebuilt when the manifest changes."""
        gen = self.retriever.manifest.generation
        if self._originals_gen != gen:
            names: dict[str, str] = {}
            for doc in self.retriever.manifest.documents():
                names[doc.doc_id.rsplit("/", 1)[-1]] = doc.doc_id
            self._originals, self._originals_gen = names, gen
        return self._originals

    def _finish_llm(self, text: str, hits: list[Hit], draft: Draft, notes: list[str]) -> Answer:
        """Check the model's markers against the passages; an answer whose markers point nowhere
        (or that has none) is not shown as cited: the extractive answer is used instead."""
        text = text.strip()
        if "知识库中没有找到" in text and len(text) < 40:
            return Answer(REFUSAL_TEXT, True, "llm", [], [], reason="llm_refused")
        found = markers(text)
        valid = [n for n in found if 1 <= n <= len(hits)]
        if not found or len(valid) < len(found):
            bad = [n for n in found if n not in valid]
            why = f"大模型回答的引用编号无效：{bad}" if bad else "大模型回答没有标注引用"
            return self._fallback(hits, draft, notes, why)
        text, citations = renumber(text, hits)
        return Answer(self._dress(text, citations, notes), False, "llm", citations)

    def _fallback(self, hits: list[Hit], draft: Draft, notes: list[str], why: str) -> Answer:
        draft, hits = self._cite_originals(draft, hits)
        text, citations = renumber(draft.text, hits)
        body = self._dress(text, citations, notes)
        return Answer(f"（大模型暂不可用，以下为知识库原文摘录）\n{body}", False, "extractive_fallback", citations,
                      reason=why)

    @staticmethod
    def _dress(text: str, citations: list[Citation], notes: list[str]) -> str:
        """Add whose rule it is (a street's or a district's rule is theirs, not Shanghai's)."""
        scope = []
        for c in citations:
            h = c.hit
            if h.doc_type == "政策" and h.region not in _LOCAL_REGIONS_EXEMPT:
                who = h.issuer if h.issuer and h.issuer != "未注明" else h.region
                line = f"[{c.n}] 为{who}的规定/做法（适用：{h.region}）"
                if line not in scope:
                    scope.append(line)
        parts = [*notes, text]
        if scope:
            parts.append("适用范围：" + "；".join(scope) + "。")
        return "\n".join(parts)


_SOURCE_FILE = re.compile(r"[\w.-]+\.(?:txt|md|markdown|pdf|docx|html?)", re.IGNORECASE)


def _bigrams(text: str) -> set[str]:
    squashed = re.sub(r"[\W_]+", "", text)
    return {squashed[k : k + 2] for k in range(len(squashed) - 1)}


def _best_passage(sentence: str, passages: Sequence[tuple[Chunk, set[str]]], min_share: float = 0.5) -> Chunk | None:
    """Of ``passages`` (chunk, its bigrams), the one holding the largest share of ``sentence``'s
    bigrams, if at least ``min_share``."""
    want = _bigrams(sentence)
    if len(want) < 4:
        return None
    best, share = None, min_share
    for chunk, grams in passages:
        got = len(want & grams) / len(want)
        if got >= share:
            best, share = chunk, got
    return best


def renumber(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Markers [n] into ``hits`` become [1], [2]... in order of first use; citations follow."""
    order = [n for n in markers(text) if 1 <= n <= len(hits)]
    mapping = {old: new for new, old in enumerate(order, 1)}

    def sub(m: re.Match[str]) -> str:
        old = int(m.group(1))
        return f"[{mapping[old]}]" if old in mapping else ""

    new_text = re.sub(r"\[(\d{1,2})\]", sub, text)
    return new_text, [Citation(mapping[old], hits[old - 1]) for old in order]

