"""The LLM answer path against a REAL small model (opt-in: ``make test-llm``).

``make test-llm`` serves Qwen2.5-Coder 0.5B Instruct (Q4_K_M) with llama.cpp on 127.0.0.1 and sets
SHEGONG_TEST_LLM_URL; without it every test here is skipped, so ``make test`` and CI never need a
model. Each answer takes 10-40 s on 2 cores, so the calls are few (six).

Asserted: what must hold whatever the model writes (the server answered; the mode; Simplified
Chinese; every [n] in the returned answer points at a returned citation; the figure is in the
answer or in the cited passages; refusal is decided before the model; a follow-up is condensed
into a search that finds the right document). Measured, not asserted: latency, whether the
model's own markers survived the check (mode llm), whether the answer states the figure.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from app.core.text import normalize_query, to_simplified
from app.rag.answerer import markers
from app.rag.assistant import REFUSAL_TEXT, Assistant
from app.rag.llm import LLMAnswerer
from tests.llm.real_llm import ALIAS, MEASUREMENTS, URL_ENV

URL = os.environ.get(URL_ENV, "").strip()

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not URL, reason=f"needs a real LLM server: run `make test-llm` (or set {URL_ENV}=http://HOST:PORT/v1)"),
]

TIMEOUT_S = 120.0
CJK = re.compile(r"[\u4e00-\u9fff]")
MODEL_FAILED = ("大模型接口调用失败", "大模型返回了空回答")  # reasons that mean the model did not answer

# (case, question, the figure as a pattern, starter-set id)
FIGURES = [
    ("yichuan-2000", "普陀区宜川路街道给考取中级社工证的社区工作者发了多少一次性奖励？", r"2,?000\s*元|两千元", "seed-000-01"),
    ("pudong-11", "浦东新区500户到2000户的居民区一般配几名社工？", r"11\s*名|十一名", "seed-001-01"),
    ("training-7d", "2022年关于加强社区工作者队伍建设的意见规定全年集中培训累计不少于几天？", r"7\s*天|七天", "seed-002-03"),
]
STREAMED = ("quota-2.5w", "浦东新区调整后的社工总额度是多少？比原来多了多少？", r"2\.5\s*万|两万五", "seed-001-02")
UNANSWERABLE = [
    ("dibao-2026", "上海2026年的低保标准是每人每月多少元？"),
    ("15-docno", "浦东“社工15条”的正式印发日期和文号是什么？"),
]
PUDONG_15 = {"policies/pudong-shegong-15", "001_de7102a9d33e9fac.txt"}


class SpyLLM:
    """Passes every call to the real answerer and keeps what it cost (the Assistant duck-types it)."""

    def __init__(self, inner: LLMAnswerer) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []

    def answer(self, question: str, hits: Sequence[Any], terms: Any = None) -> Any:
        t = time.perf_counter()
        call: dict[str, Any] = {"kind": "answer", "text": ""}
        try:
            draft = self.inner.answer(question, hits, terms)
            call["text"] = draft.text
            return draft
        finally:
            call["s"] = time.perf_counter() - t
            self.calls.append(call)

    def stream(self, question: str, hits: Sequence[Any]) -> Iterator[str]:
        t = time.perf_counter()
        call: dict[str, Any] = {"kind": "stream", "first_s": None, "text": ""}
        try:
            for piece in self.inner.stream(question, hits):
                if call["first_s"] is None:
                    call["first_s"] = time.perf_counter() - t
                call["text"] += piece
                yield piece
        finally:
            call["s"] = time.perf_counter() - t
            self.calls.append(call)

    def condense(self, question: str, history: Sequence[dict[str, str]]) -> str:
        t = time.perf_counter()
        call: dict[str, Any] = {"kind": "condense", "text": ""}
        try:
            call["text"] = self.inner.condense(question, history)
            return call["text"]
        finally:
            call["s"] = time.perf_counter() - t
            self.calls.append(call)


@pytest.fixture(scope="module")
def base_url() -> str:
    url = URL.rstrip("/")
    url = url if url.endswith("/v1") else url + "/v1"
    try:
        models = httpx.get(url + "/models", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        pytest.fail(f"{URL_ENV}={URL} does not answer /v1/models ({exc}); is the server running?")
    ids = [m.get("id") for m in models.get("data", [])]
    assert ALIAS in ids, f"the server at {url} serves {ids}, not the alias {ALIAS!r}"
    return url


@pytest.fixture(scope="module")
def real(kb_settings, embedder, base_url: str) -> tuple[Assistant, SpyLLM]:  # type: ignore[no-untyped-def]
    """The assistant as the factory builds it for a configured endpoint, over the seeds knowledge base."""
    from app.service.factory import build_assistant

    settings = kb_settings.model_copy(update={"llm_base_url": base_url, "llm_model": ALIAS, "llm_timeout_s": TIMEOUT_S})
    assistant = build_assistant(settings, embedder)
    assert isinstance(assistant.llm, LLMAnswerer) and assistant.llm.model_name == ALIAS
    spy = SpyLLM(assistant.llm)
    assistant.llm = spy  # type: ignore[assignment]
    return assistant, spy


# ----------------------------------------------------------------------------------------------
def check_answer(ans: dict[str, Any], figure: str) -> None:
    """What must hold for an answerable question, whatever the model wrote (``Answer.to_dict()`` form)."""
    assert ans["mode"] in ("llm", "extractive_fallback"), ans["mode"]
    assert not ans["reason"].startswith(MODEL_FAILED), f"the model did not answer: {ans['reason']}"
    assert not ans["refused"], f"refused ({ans['reason']}): {ans['answer']}"
    text = ans["answer"]
    cjk = CJK.findall(text)
    letters = [c for c in text if c.isalpha()]
    assert len(cjk) >= 0.5 * len(letters), f"not a Chinese answer: {text}"
    _, changed = to_simplified(text)
    assert changed <= max(1, len(cjk) // 50), f"{changed} Traditional characters in: {text}"
    numbers = [c["n"] for c in ans["citations"]]
    assert numbers and numbers == list(range(1, len(numbers) + 1)), f"citations {numbers}: {text}"
    assert set(markers(text)) <= set(numbers), f"markers {markers(text)} but citations {numbers}: {text}"
    cited = "\n".join(c["text"] for c in ans["citations"])
    assert re.search(figure, text) or re.search(figure, cited), f"{figure} in neither the answer nor the cited passages"


def record(case: str, kind: str, ans: dict[str, Any], calls: list[dict[str, Any]], figure: str | None,
           note: str = "") -> None:
    """One row of the table: the model's own text is judged apart from the answer that was shown."""
    said = next((c["text"] for c in calls if c["kind"] in ("answer", "stream")), "")
    MEASUREMENTS.append({
        "case": case, "kind": kind, "llm calls": len(calls),
        "llm s": sum(c["s"] for c in calls) if calls else None,
        "first s": next((c["first_s"] for c in calls if c.get("first_s") is not None), None),
        "total s": ans["timings_ms"].get("total", 0.0) / 1000,
        "mode": ans["mode"] + (" (refused)" if ans["refused"] else ""),
        "own markers": ans["mode"] == "llm" and not ans["refused"],
        "model: figure": bool(re.search(figure, said)) if figure and calls else None,
        "shown: figure": bool(re.search(figure, ans["answer"])) if figure else None,
        "note": note or ans["reason"],
        "model said": " ".join(said.split())[:100],
    })


# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "question", "figure"), [f[:3] for f in FIGURES], ids=[f[0] for f in FIGURES])
def test_answers_a_known_figure(real: tuple[Assistant, SpyLLM], case: str, question: str, figure: str) -> None:
    assistant, spy = real
    before = len(spy.calls)
    ans = assistant.chat(question).to_dict()
    calls = spy.calls[before:]
    record(case, "chat", ans, calls, figure)
    assert [c["kind"] for c in calls] == ["answer"]
    check_answer(ans, figure)


def test_streams_deltas_then_a_checked_answer(real: tuple[Assistant, SpyLLM]) -> None:
    assistant, spy = real
    case, question, figure, _ = STREAMED
    before = len(spy.calls)
    events = list(assistant.chat_stream(question))
    calls = spy.calls[before:]
    types = [e["type"] for e in events]
    assert types[-1] == "done" and types.count("done") == 1, types
    assert set(types) <= {"delta", "reset", "done"}, types
    ans = events[-1]["answer"]
    record(case, "stream", ans, calls, figure)
    assert [c["kind"] for c in calls] == ["stream"]
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert len(deltas) > 3 and "".join(deltas).strip(), "the model's answer did not arrive in pieces"
    check_answer(ans, figure)


def test_unanswerable_is_refused_before_the_model(real: tuple[Assistant, SpyLLM]) -> None:
    assistant, spy = real
    for case, question in UNANSWERABLE:
        before = len(spy.calls)
        ans = assistant.chat(question).to_dict()
        record(case, "refusal", ans, spy.calls[before:], None, note=ans["reason"])
        assert ans["refused"] and ans["answer"].startswith(REFUSAL_TEXT), ans["answer"]
        assert len(spy.calls) == before, "the model was asked although the question was refused"


def test_follow_up_is_condensed_into_a_usable_search(real: tuple[Assistant, SpyLLM]) -> None:
    assistant, spy = real
    history = [{"role": "user", "content": "浦东社工15条是什么？"},
               {"role": "assistant", "content": "浦东新区“社工15条”是加强社区工作者队伍建设和激励关怀的若干措施。"}]
    question = "那额度怎么配？"
    before = len(spy.calls)
    answer = assistant.chat(question, history)
    ans, search = answer.to_dict(), answer.search_query
    calls = spy.calls[before:]
    # measured, not asserted: does the standalone search still carry the follow-up's subject (额度),
    # or is it a copy of an earlier turn (which finds the right document but loses the question)?
    kept = "额度" in search
    echoed = any(normalize_query(t["content"]) == search for t in history)
    record("follow-up", "condense", ans, calls, None,
           note=f"{question} -> {search!r} (keeps 额度: {'yes' if kept else 'NO'}; copies a turn: "
                f"{'YES' if echoed else 'no'}; {ans['reason'] or ans['mode']})")
    assert [c["kind"] for c in calls] == ["condense", "answer"]
    assert search and search != question and CJK.search(search), f"condensed to {search!r}"
    assert len(search) <= 120, f"not a standalone question: {search}"
    assert not ans["refused"], f"refused ({ans['reason']}) after condensing to {search}"
    assert not ans["reason"].startswith(MODEL_FAILED), ans["reason"]
    docs = {c["doc_id"] for c in ans["citations"]}
    assert docs & PUDONG_15, f"{search!r} led to {docs}, not the Pudong 15 measures"
