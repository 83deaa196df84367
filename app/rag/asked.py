"""What a question asks for that its answer must hold: a number, an amount, the papers to bring.
The rules are data (``rules/asked.yaml``, with their measured
ablation); the select stage keeps only sentences that hold what was asked.

>>> [t.name for t in asked_types("低保每个月能领多少钱？")]
['number', 'money']
>>> holds(asked_types("低保每个月能领多少钱？"), "按月发给最低生活保障金。")
False
>>> holds(asked_types("低保每个月能领多少钱？"), "标准为每人每月1510元。")
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parent / "rules" / "asked.yaml"


@dataclass(frozen=True)
class AskedType:
    name: str
    label: str  # what the refusal says the documents do not state, e.g. 具体金额或标准
    question: re.Pattern[str]
    sentence: re.Pattern[str]


@lru_cache(maxsize=1)
def _read() -> tuple[int, tuple[AskedType, ...], re.Pattern[str]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    types = tuple(AskedType(name, spec["label"], re.compile(spec["问句"]), re.compile(spec["句中须有"]))
                  for name, spec in data["types"].items())
    return int(data["top"]), types, re.compile(data["not_stated"])


def rules() -> tuple[int, tuple[AskedType, ...]]:
    """``(top, types)`` read from the rules file."""
    top, types, _ = _read()
    return top, types


def asked_types(question: str) -> list[AskedType]:
    return [t for t in rules()[1] if t.question.search(question)]


def holds(types: Sequence[AskedType], text: str) -> bool:
    """Whether ``text`` holds every one of ``types`` (true when none is asked), or says plainly that
    it is not stated (a knowledge base's note of what it lacks answers the question honestly)."""
    if not types:
        return True
    return all(t.sentence.search(text) for t in types) or bool(_read()[2].search(text))
