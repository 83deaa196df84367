"""Numbered articles (第…条) of laws, regulations and local rules: the unit a statute is answered in,
and the refusal threshold for a best sentence that stands in one. The rule is data
(``rules/articles.yaml``, with its measured ablation).

>>> text = "第一条为了保障老年人合法权益，制定本法。\\n第二条有下列情形之一的，可以申请：\\n（一）年满六十周岁；"
>>> article_holding(text, "（一）年满六十周岁；")
'第二条有下列情形之一的，可以申请：（一）年满六十周岁；'
>>> article_holding("按规定，中级高达2000元。", "按规定，中级高达2000元。") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.core.sentences import sentences_of

RULES = Path(__file__).resolve().parent / "rules" / "articles.yaml"


@dataclass(frozen=True)
class ArticleRules:
    pattern: re.Pattern[str]  # an article's first line
    answer_chars: int  # the longest answer made of whole articles
    threshold: float  # the refusal threshold where the best sentence stands in an article


@lru_cache(maxsize=1)
def article_rules() -> ArticleRules:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return ArticleRules(re.compile(data["pattern"], re.M), int(data["answer_chars"]), float(data["threshold"]))


def article_holding(text: str, sentence: str, after: str | None = None) -> str | None:
    """The article of a passage that holds ``sentence`` (as :func:`sentences_of` cuts it), its lines
    joined; None where the passage has no articles or the sentence is in none of them. ``after``:
    the document's next passage, where the passage's last article goes on."""
    found = article_reading_on(text, sentence, after)
    return found[0] if found is not None else None


def article_reading_on(text: str, sentence: str, after: str | None = None) -> tuple[str, bool] | None:
    """:func:`article_holding`, and whether the article went on into ``after``."""
    pat = article_rules().pattern
    starts = [m.start() for m in pat.finditer(text)]
    if not starts:
        return None
    ends = [*starts[1:], len(text)]
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        piece = text[a:b]
        if sentence not in sentences_of(piece):
            continue
        joined = _joined(piece)
        more = ""
        if i == len(starts) - 1 and after:
            m = pat.search(after)
            more = _joined(after[: m.start() if m else len(after)])
            # the next passage may begin with the last sentences of this one (the chunk overlap)
            k = next((k for k in range(min(len(joined), len(more)), 0, -1) if joined.endswith(more[:k])), 0)
            more = more[k:]
        return joined + more, bool(more)
    return None


def last_article(text: str, sentence: str) -> bool:
    """Whether ``sentence`` stands in the passage's last article (which may go on in the next one)."""
    starts = [m.start() for m in article_rules().pattern.finditer(text)]
    return bool(starts) and sentence in sentences_of(text[starts[-1]:])


def _joined(text: str) -> str:
    return "".join(line.strip() for line in text.splitlines() if line.strip())
