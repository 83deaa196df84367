"""Cite: markers become numbered citations, and every line says what it rests on.

The ``[n]`` markers of a draft (extractive or the model's) are checked against the passages and
renumbered in order of first use; an LLM answer whose markers point nowhere, or that has none, is
replaced by the extractive draft. A summary whose ``source`` names a document of the knowledge
base is cited together with that original's passage saying the same thing. Each line gets the
nature of its source (培训参考, 教学案例（人物虚构）, 虚构示例) and each local rule whose rule it is.

>>> text, cites = renumber("甲[3]。乙[1]。", hits)          # doctest: +SKIP
>>> text
'甲[1]。乙[2]。'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app.core.types import Answer, Chunk, Citation, Hit, source_nature
from app.rag.answerer import Draft, char_bigrams, draft_of, markers
from app.rag.guards import INTRODUCTION, OFF_TOPIC
from app.rag.pipeline.assess import Assessment
from app.rag.retriever import Retriever

REFUSAL_TEXT = "知识库中没有找到能回答这个问题的内容。"
LLM_UNAVAILABLE = "（大模型暂不可用，以下为知识库原文摘录）"
_LOCAL_REGIONS_EXEMPT = ("全国", "未注明", "")
_SOURCE_FILE = re.compile(r"[\w.-]+\.(?:txt|md|markdown|pdf|docx|html?)", re.IGNORECASE)


def renumber(text: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
    """Markers [n] into ``hits`` become [1], [2]... in order of first use; citations follow."""
    order = [n for n in markers(text) if 1 <= n <= len(hits)]
    mapping = {old: new for new, old in enumerate(order, 1)}

    def sub(m: re.Match[str]) -> str:
        old = int(m.group(1))
        return f"[{mapping[old]}]" if old in mapping else ""

    new_text = re.sub(r"\[(\d{1,2})\]", sub, text)
    return new_text, [Citation(mapping[old], hits[old - 1]) for old in order]


def mark_line(line: str, by_n: dict[int, Hit]) -> str:
    """``line`` with the nature of the sources it cites, once: "……[1]（培训参考）"."""
    cited = [n for n in markers(line) if n in by_n]
    natures: dict[str, list[int]] = {}
    for n in cited:
        nature = source_nature(by_n[n])
        if nature is not None:
            natures.setdefault(nature, []).append(n)
    if not natures:
        return line
    if len(natures) == 1 and len(cited) == len(next(iter(natures.values()))):
        mark = f"（{next(iter(natures))}）"
    else:
        mark = "（" + "；".join("".join(f"[{n}]" for n in ns) + nature for nature, ns in natures.items()) + "）"
    return line if mark in line else f"{line}{mark}"


def dress(text: str, citations: Sequence[Citation], notes: Sequence[str]) -> str:
    """Say what each line rests on: a line from a guide is training material, from a case an
    invented teaching case, from a demo document an invented example; and whose rule a policy is
    (a street's or a district's rule is theirs, not Shanghai's)."""
    by_n = {c.n: c.hit for c in citations}
    lines = [mark_line(line, by_n) for line in text.split("\n")]
    scope = []
    for c in citations:
        h = c.hit
        if h.doc_type == "政策" and h.region not in _LOCAL_REGIONS_EXEMPT:
            who = h.issuer if h.issuer and h.issuer != "未注明" else h.region
            line = f"[{c.n}] 为{who}的规定/做法（适用：{h.region}）"
            if line not in scope:
                scope.append(line)
    parts = [*notes, "\n".join(lines)]
    if scope:
        parts.append("适用范围：" + "；".join(scope) + "。")
    return "\n".join(parts)


def _best_passage(sentence: str, passages: Sequence[tuple[Chunk, set[str]]], min_share: float = 0.5) -> Chunk | None:
    """Of ``passages`` (chunk, its bigrams), the one holding the largest share of ``sentence``'s
    bigrams, if at least ``min_share``."""
    want = char_bigrams(sentence)
    if len(want) < 4:
        return None
    best, share = None, min_share
    for chunk, grams in passages:
        got = len(want & grams) / len(want)
        if got >= share:
            best, share = chunk, got
    return best


class Citer:
    """Turns drafts and verdicts into the ``Answer`` a worker sees."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._originals: dict[str, str] = {}
        self._originals_gen = -1

    # -- answers ----------------------------------------------------------------------------------
    def extractive(self, draft: Draft, hits: list[Hit], notes: Sequence[str], *, mode: str = "extractive",
                   prefix: str = "", why: str = "") -> Answer:
        draft, hits = self._cite_originals(draft, hits)
        text, citations = renumber(draft.text, hits)
        body = dress(text, citations, notes)
        return Answer(f"{prefix}\n{body}" if prefix else body, False, mode, citations, reason=why)

    def fallback(self, draft: Draft, hits: list[Hit], notes: Sequence[str], why: str) -> Answer:
        return self.extractive(draft, hits, notes, mode="extractive_fallback", prefix=LLM_UNAVAILABLE, why=why)

    def llm(self, text: str, draft: Draft, hits: list[Hit], notes: Sequence[str]) -> Answer:
        """Check the model's markers against the passages; an answer whose markers point nowhere
        (or that has none) is not shown as cited: the extractive draft is used instead."""
        text = text.strip()
        if "知识库中没有找到" in text and len(text) < 40:
            return Answer(REFUSAL_TEXT, True, "llm", reason="llm_refused")
        found = markers(text)
        valid = [n for n in found if 1 <= n <= len(hits)]
        if not found or len(valid) < len(found):
            bad = [n for n in found if n not in valid]
            why = f"大模型回答的引用编号无效：{bad}" if bad else "大模型回答没有标注引用"
            return self.fallback(draft, hits, notes, why)
        text, citations = renumber(text, hits)
        return Answer(dress(text, citations, notes), False, "llm", citations)

    def refusal(self, hits: Sequence[Hit], verdict: Assessment) -> Answer:
        nearest: list[dict[str, Any]] = []
        if verdict.reason not in ("injection", "personal_data") and not verdict.off_topic:
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
        elif verdict.missing:
            text += f"相关内容没有写明{'、'.join(verdict.missing)}。"
        elif verdict.off_topic:
            text = f"知识库中没有找到。{OFF_TOPIC}"
        if nearest:
            text += "相关度较高的文档有：" + "、".join(f"《{n['title']}》" for n in nearest) + "，可以人工查阅核实。"
        return Answer(text, True, "extractive", [], nearest, reason=verdict.reason, score=verdict.score)

    @staticmethod
    def introduction(kind: str) -> Answer:
        return Answer(INTRODUCTION, False, "intro", reason=kind)

    # -- the original of a summary ----------------------------------------------------------------
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
        for n, (i, sentence) in enumerate(draft.sentences):
            more: list[int] = list(draft.also[n]) if n < len(draft.also) else []
            doc_id = next((originals[name] for name in _SOURCE_FILE.findall(hits[i].source) if name in originals),
                          None) if i < len(hits) else None
            if doc_id is not None and doc_id != hits[i].doc_id:
                if doc_id not in passages:
                    passages[doc_id] = [(c, char_bigrams(c.text)) for c in manifest.chunks(manifest.chunk_ids_of(doc_id))]
                best = _best_passage(sentence, passages[doc_id])
                if best is not None and best.chunk_id not in {hits[k].chunk_id for k in more}:
                    j = next((k for k, h in enumerate(hits) if h.chunk_id == best.chunk_id), None)
                    if j is None:
                        hits.append(Hit.from_chunk(best, hits[i].score, None, None))
                        j = len(hits) - 1
                    more.append(j)
            also.append(more)
        if also == [list(m) for m in draft.also] or not any(also):
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
