"""Answer text: the candidate sentences of a passage and the drafts made of them.

``sentences_of`` turns a passage into the sentences an answer may quote (list items and table
rows as statements; headings, questions quoted in the text and a document's notes about itself
left out): the selector scores these, and ingest embeds them. ``draft_of`` writes chosen
sentences as an answer with ``[n]`` markers.

>>> sentences_of("## 补贴\\n\\n中级证书奖励2000元。初级没有写。")
['中级证书奖励2000元。', '初级没有写。']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.core.sentences import sentences_of, strip_bullet
from app.core.types import Hit

_MARKER = re.compile(r"\[(\d{1,2})\]")
# a label standing alone ("**怎么做**：") introduces what follows and answers nothing itself
_LABEL_ONLY = re.compile(r"^[\s\-•*]*[^\s：:*]{1,8}\**\s*[：:]$")


@dataclass
class Draft:
    """An answer before it is checked and dressed: text with [n] markers into ``hits``."""

    text: str
    mode: str  # extractive | llm
    sentences: list[tuple[int, str]] = field(default_factory=list)  # (hit index, sentence) used
    also: list[list[int]] = field(default_factory=list)  # per sentence, more hit indices it cites


def term_presence(term: str, text: str) -> float:
    """1 for an exact occurrence; for longer terms, the share of their bigrams that occur."""
    if term in text:
        return 1.0
    if len(term) < 3:
        return 0.0
    grams = [term[i : i + 2] for i in range(len(term) - 1)]
    return 0.8 * sum(1 for g in grams if g in text) / len(grams)


IdfFn = Callable[[str], float]


def char_bigrams(text: str) -> set[str]:
    """The character bigrams of ``text`` without punctuation or spaces."""
    t = re.sub(r"[\W_]+", "", text)
    return {t[i : i + 2] for i in range(len(t) - 1)}


def flat_idf(_: str) -> float:
    return 1.0


def section_draft(hit: Hit, max_chars: int, max_lines: int = 6) -> Draft:
    """A section the question names ("走访时怎么提醒……"), in its own order: the whole section
    is the answer, as far as the length allows."""
    chosen: list[str] = []
    used = 0
    for s in sentences_of(hit.text):
        if _LABEL_ONLY.match(s):
            continue
        if chosen and (used + len(s) > max_chars or len(chosen) >= max_lines):
            break
        chosen.append(s)
        used += len(s)
    return draft_of([(0, s) for s in chosen])


def draft_of(sentences: list[tuple[int, str]], also: Sequence[Sequence[int]] | None = None) -> Draft:
    """Chosen sentences as an answer: one line each with its [n] marker, numbered when several.
    ``also``: per sentence, more hit indices that sentence cites (the original of a summary)."""
    extra = also or [()] * len(sentences)
    lines = [f"{strip_bullet(s)}[{hi + 1}]" + "".join(f"[{j + 1}]" for j in more)
             for (hi, s), more in zip(sentences, extra, strict=True)]
    text = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)) if len(lines) > 1 else "".join(lines)
    return Draft(text, "extractive", sentences, [list(m) for m in extra] if also else [])


def markers(text: str) -> list[int]:
    """The ``[n]`` markers in an answer, in order of first appearance (1-based)."""
    seen: list[int] = []
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen
