"""A deterministic stand-in for the operator's LLM endpoint, for code that calls ``complete(text)``
(drafting, 问数's SQL): no model can run on these machines in a test."""

from __future__ import annotations

from collections.abc import Callable


class ScriptedLLM:
    """Replies ``reply(prompt)`` when ``reply`` is callable, else ``reply`` itself; keeps every prompt."""

    def __init__(self, reply: str | Callable[[str], str]) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def complete(self, text: str) -> str:
        self.prompts.append(text)
        return self.reply(text) if callable(self.reply) else self.reply
