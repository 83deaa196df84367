"""An LLM's polish of a draft, kept only when it states nothing the draft did not.

Every number (figures, dates, rooms and buildings, in digits or in Chinese numerals before a measure
word) in the polished text must occur in the draft it was given, and no resident's name may appear
that the draft did not hold; otherwise the template's text stands, with the reason shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from app.core.text import cn_number
from app.rag.llm import prompt
from app.service.drafts.types import Draft

log = logging.getLogger(__name__)
POLISH_PROMPT = "draft_polish.v1"
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_CN_NUM = re.compile(r"([零〇一二两三四五六七八九十百千]+)(?=[户件条次人名位天日号月周年岁%个项栋幢室楼])")
# Ordinals and fixed phrases that are not figures (一、 headings, 一起, 一下 ...) are not caught:
# the measure-word lookahead above leaves them out.


def numbers(text: str) -> set[str]:
    out = {_norm(m.group()) for m in _DIGITS.finditer(text)}
    for m in _CN_NUM.finditer(text):
        n = cn_number(m.group(1))
        if n is not None:
            out.add(str(n))
    return out


def _norm(num: str) -> str:
    if "." in num:
        return num.rstrip("0").rstrip(".") or "0"
    return str(int(num))


def unsupported(polished: str, source: str, names: Iterable[str]) -> list[str]:
    """What the polished text states that the source does not: numbers, then residents' names."""
    allowed = numbers(source)
    extra = sorted(numbers(polished) - allowed, key=lambda x: (len(x), x))
    out = [f"数字 {n}" for n in extra]
    out += [f"人名 {n}" for n in sorted(set(names)) if n and n in polished and n not in source]
    return out


def polish(draft: Draft, llm: Any, names: Iterable[str] = ()) -> Draft:
    """The draft polished by ``llm`` when the result passes the check; otherwise the draft itself
    with ``note`` saying why the template's text was kept."""
    source = draft.text
    try:
        reply = llm.complete(prompt(POLISH_PROMPT).format(kind=draft.title, draft=source[:8000]))
    except Exception as exc:  # the endpoint is down or refused: the template's text stands
        log.warning("draft polish failed: %s", type(exc).__name__)
        draft.note = "大模型暂时不可用，以下是按模板生成的文字。"
        return draft
    text = reply.strip().strip("`").strip()
    problems = unsupported(text, source, names) if text else ["空的回复"]
    if problems:
        draft.note = ("大模型润色后的文字里有原稿没有的内容（" + "、".join(problems[:5])
                      + "），为避免出错，已改用按模板生成的文字。")
        return draft
    lines = text.split("\n")
    draft.title = lines[0].strip() or draft.title
    draft.lines = lines[1:]
    while draft.lines and not draft.lines[0].strip():
        draft.lines.pop(0)
    draft.drafted_by = "llm"
    draft.note = "已由大模型润色；其中的数字、日期和人名都已与原稿核对过。"
    return draft
