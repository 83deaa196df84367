"""Run a test set through the Assistant and score retrieval and answers apart.

Test-set format (JSONL): ``id, question, history?, answerable, evidence[], answer_keywords[], tags[]``.
A retrieved chunk *holds the evidence* when it contains one of the evidence strings (compared
without punctuation or spaces). External sets count a hit by gold ``doc_id`` instead, and an
answer as correct when it holds any one of the ``reference_answers`` (see eval/runner.py).

>>> run_cases(assistant, load_cases(Path("eval/sets/starter.jsonl")))      # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.text import normalize_query

_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)


def squash(text: str) -> str:
    """Text without punctuation, spaces or case: how evidence and keywords are compared."""
    return _STRIP.sub("", normalize_query(text)).lower()


@dataclass
class Case:
    id: str
    question: str
    answerable: bool = True
    evidence: list[str] = field(default_factory=list)
    answer_keywords: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    gold_doc_ids: list[str] = field(default_factory=list)  # external sets
    # External sets: the reference answers; an answer is correct when it holds any one of them.
    reference_answers: list[str] = field(default_factory=list)


def load_cases(path: Path) -> list[Case]:
    cases = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        try:
            cases.append(Case(**{k: v for k, v in obj.items() if k in Case.__dataclass_fields__}))
        except TypeError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return cases


@dataclass
class CaseResult:
    id: str
    question: str
    tags: list[str]
    answerable: bool
    first_relevant_rank: int | None  # 1-based rank of the first hit holding the evidence
    refused: bool
    correct: bool  # answered with every keyword (and a reference answer, if any) or refused (unanswerable)
    citation_ok: bool | None  # a cited passage holds the evidence (answered, answerable cases)
    answer: str
    mode: str
    retrieved: list[dict[str, str]]
    latency_ms: float
    expected_evidence: list[str]
    reason: str = ""
    reference_answers: list[str] = field(default_factory=list)
    answer_keywords: list[str] = field(default_factory=list)


def _relevant(case: Case, hit: dict[str, Any]) -> bool:
    if case.gold_doc_ids:
        return hit.get("doc_id") in case.gold_doc_ids
    text = squash(f"{hit.get('text', '')}")
    return any(squash(e) in text for e in case.evidence if e)


def score_case(case: Case, hits: Sequence[dict[str, Any]], answer: dict[str, Any], latency_ms: float) -> CaseResult:
    rank = next((i for i, h in enumerate(hits, 1) if _relevant(case, h)), None)
    refused = bool(answer.get("refused"))
    text = squash(answer.get("answer", ""))
    if case.answerable:
        keywords_ok = all(squash(k) in text for k in case.answer_keywords)
        if case.reference_answers:
            keywords_ok = keywords_ok and any(squash(a) in text for a in case.reference_answers if squash(a))
        correct = not refused and keywords_ok
        cited = answer.get("citations", [])
        citation_ok = (not refused) and any(_relevant(case, c) for c in cited) if (case.evidence or case.gold_doc_ids) else None
    else:
        correct = refused
        citation_ok = None
    return CaseResult(
        id=case.id, question=case.question, tags=case.tags, answerable=case.answerable, first_relevant_rank=rank,
        refused=refused, correct=correct, citation_ok=citation_ok if not refused else None,
        answer=answer.get("answer", ""), mode=answer.get("mode", ""),
        retrieved=[{"doc_id": h.get("doc_id", ""), "title": h.get("title", ""), "text": h.get("text", "")[:160]}
                   for h in hits[:5]],
        latency_ms=latency_ms, expected_evidence=case.evidence or case.gold_doc_ids, reason=answer.get("reason", ""),
        reference_answers=list(case.reference_answers), answer_keywords=list(case.answer_keywords),
    )


Runner = Callable[[Case], tuple[list[dict[str, Any]], dict[str, Any]]]


def search_query(case: Case) -> str:
    """What is searched for a case: a follow-up question is prefixed with the last user turn."""
    if case.history:
        users = [t["content"] for t in case.history if t.get("role") == "user"]
        return f"{users[-1]} {case.question}" if users else case.question
    return case.question


def in_process(assistant: Any, k: int = 10, answer: bool = True) -> Runner:
    """Ask the Assistant object directly (the same one the API serves)."""

    def run(case: Case) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not answer:
            return [h.to_dict() for h in assistant.search(search_query(case), k)], {}
        # the passages the answer was made from: what the worker's question retrieved
        ans = assistant.chat(case.question, case.history).to_dict()
        return list(ans.get("hits") or [])[:k], ans

    return run


def over_http(base_url: str, k: int = 10, answer: bool = True, token: str | None = None) -> Runner:
    """Ask a running server through ``/api/search`` and ``/api/chat``."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(base_url=base_url.rstrip("/"), timeout=120, headers=headers)

    def run(case: Case) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not answer:
            r = client.post("/api/search", json={"query": search_query(case), "k": k})
            r.raise_for_status()
            return list(r.json()["hits"]), {}
        a = client.post("/api/chat", json={"question": case.question, "history": case.history, "save": False})
        a.raise_for_status()
        ans: dict[str, Any] = a.json()
        return list(ans.get("hits") or [])[:k], ans

    return run


def run_cases(runner: Runner, cases: Iterable[Case], progress: Callable[[int], None] | None = None) -> list[CaseResult]:
    out = []
    for i, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        hits, ans = runner(case)
        latency = ans.get("timings_ms", {}).get("total") or (time.perf_counter() - t0) * 1000
        out.append(score_case(case, hits, ans, float(latency)))
        if progress:
            progress(i)
    return out


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[idx], 1)


def metrics(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Retrieval (answerable cases) and answer metrics, overall."""
    ans = [r for r in results if r.answerable]
    unans = [r for r in results if not r.answerable]
    out: dict[str, Any] = {"cases": len(results), "answerable": len(ans), "unanswerable": len(unans)}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = _mean([1.0 if r.first_relevant_rank and r.first_relevant_rank <= k else 0.0 for r in ans])
    out["mrr@10"] = _mean([1.0 / r.first_relevant_rank if r.first_relevant_rank and r.first_relevant_rank <= 10
                           else 0.0 for r in ans])
    if any(r.mode for r in results):
        out["answer_accuracy"] = _mean([1.0 if r.correct else 0.0 for r in ans])
        refused = [r for r in results if r.refused]
        out["refusal_precision"] = _mean([0.0 if r.answerable else 1.0 for r in refused]) if refused else None
        out["refusal_recall"] = _mean([1.0 if r.refused else 0.0 for r in unans]) if unans else None
        out["refusal_accuracy"] = _mean([1.0 if r.correct else 0.0 for r in unans]) if unans else None
        out["false_refusals"] = sum(1 for r in ans if r.refused)
        cited = [r.citation_ok for r in ans if r.citation_ok is not None]
        out["citation_correct"] = _mean([1.0 if c else 0.0 for c in cited]) if cited else None
        lat = [r.latency_ms for r in results]
        out["latency_ms_p50"], out["latency_ms_p95"] = _pct(lat, 50), _pct(lat, 95)
    return out


def metrics_by_tag(results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    tags = sorted({t for r in results for t in r.tags})
    return {t: metrics([r for r in results if t in r.tags]) for t in tags}


def _mean(xs: list[float]) -> float | None:
    return round(statistics.fmean(xs), 4) if xs else None


def results_as_dicts(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
