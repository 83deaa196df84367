"""The LLM answerer: any OpenAI-compatible endpoint (Qwen or DeepSeek APIs, Ollama, vLLM, llama.cpp
server) through langchain-openai, with prompts from ``prompts/``.

The model answers only from numbered passages; the assistant checks its ``[n]`` markers itself.
Any failure (connection, timeout, HTTP error, empty reply) raises :class:`LLMError`, and the
assistant falls back to the extractive answer.

>>> llm = LLMAnswerer(base_url="http://127.0.0.1:8080/v1", model="local")   # doctest: +SKIP
>>> llm.answer("残疾人两项补贴怎么申请？", hits).text                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.core.errors import ShegongError
from app.core.types import Hit, source_nature
from app.rag.answerer import Draft
from app.rag.terms import QuestionTerms

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
ANSWER_PROMPT = "answer.v2"
CONDENSE_PROMPT = "condense.v1"
MAX_PASSAGE_CHARS = 600


class LLMError(ShegongError):
    code = "llm_error"


@lru_cache(maxsize=8)
def prompt(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.md"
    return path.read_text(encoding="utf-8")


def context_block(hits: Sequence[Hit]) -> str:
    parts = []
    for i, h in enumerate(hits, 1):
        where = "，".join(x for x in (h.issuer, h.region) if x and x != "未注明")
        nature = source_nature(h)
        head = (f"[{i}] 《{h.title}》" + (f"（{where}）" if where else "") + (f"【{nature}，不是规定】" if nature else "")
                + (f" {h.heading}" if h.heading else ""))
        parts.append(f"{head}\n{h.text[:MAX_PASSAGE_CHARS]}")
    return "\n\n".join(parts)


class LLMAnswerer:
    """Answers with an OpenAI-compatible chat model; streaming and non-streaming."""

    def __init__(self, *, base_url: str, model: str, api_key: str = "", timeout_s: float = 30.0) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        from langchain_openai import ChatOpenAI

        self.model_name = model or "default"
        self._chat = ChatOpenAI(
            model=self.model_name,
            base_url=base_url,
            api_key=api_key or "not-needed",  # type: ignore[arg-type]
            timeout=timeout_s,
            max_retries=0,
            temperature=0.1,
        )

    def _messages(self, question: str, hits: Sequence[Hit]) -> list[Any]:
        from langchain_core.messages import HumanMessage

        text = prompt(ANSWER_PROMPT).format(context=context_block(hits), question=question)
        return [HumanMessage(content=text)]

    def answer(self, question: str, hits: Sequence[Hit], terms: QuestionTerms | None = None) -> Draft:
        try:
            reply = self._chat.invoke(self._messages(question, hits))
        except Exception as exc:
            raise LLMError(f"大模型接口调用失败：{type(exc).__name__}: {exc}") from exc
        text = str(reply.content or "").strip()
        if not text:
            raise LLMError("大模型返回了空回答。")
        return Draft(text, "llm")

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """Text pieces as they arrive; raises LLMError on failure (possibly after some pieces)."""
        try:
            for chunk in self._chat.stream(self._messages(question, hits)):
                piece = chunk.content if isinstance(chunk.content, str) else ""
                if piece:
                    yield piece
        except Exception as exc:
            raise LLMError(f"大模型接口调用失败：{type(exc).__name__}: {exc}") from exc

    def complete(self, text: str) -> str:
        """One prompt, one reply (for structured drafting, e.g. a visit record from a note)."""
        from langchain_core.messages import HumanMessage

        try:
            reply = self._chat.invoke([HumanMessage(content=text)])
        except Exception as exc:
            raise LLMError(f"大模型接口调用失败：{type(exc).__name__}: {exc}") from exc
        return str(reply.content or "").strip()

    def condense(self, question: str, history: Sequence[dict[str, str]]) -> str:
        """A follow-up rewritten as a standalone question."""
        from langchain_core.messages import HumanMessage

        lines = [f"{'居民/社工' if t.get('role') == 'user' else '助手'}：{t.get('content', '')[:300]}" for t in history[-6:]]
        text = prompt(CONDENSE_PROMPT).format(history="\n".join(lines), question=question)
        try:
            reply = self._chat.invoke([HumanMessage(content=text)])
        except Exception as exc:
            raise LLMError(f"大模型改写追问失败：{exc}") from exc
        out = str(reply.content or "").strip().splitlines()
        return out[0].strip() if out and out[0].strip() else question
