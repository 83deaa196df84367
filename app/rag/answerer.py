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

from app.rag.retriever import Hit

_SENT = re.compile(r"[^。！？；!?\n]+[。！？；!?]*[”’」』）)]*")
# a "*" bullet is followed by a space; "**" opens bold text and is not a bullet
_BULLET = re.compile(r"^\s*(?:[-•·]|\*(?!\*)|\d+[.、．)]|（[一二三四五六七八九十\d]+）|[一二三四五六七八九十]+、)\s*")
_MARKER = re.compile(r"\[(\d{1,2})\]")
# a label standing alone ("**怎么做**：") introduces what follows and answers nothing itself
_LABEL_ONLY = re.compile(r"^[\s\-•*]*[^\s：:*]{1,8}\**\s*[：:]$")


@dataclass
class Draft:
    """An answer before it is checked and dressed: text with [n] markers into ``hits``."""

    text: str
    mode: str  # extractive | llm
    sentences: list[tuple[int, str]] = field(default_factory=list)  # (hit index, sentence) used


# What a document says about itself (teaching material, not regulation): never an answer.
_ABOUT_ITSELF = re.compile(
    r"本(?:文|案例)(?:为|是).{0,8}(?:参考|教学|培训)(?:材料|示例)|不是政策法规|以现行文件和街道要求为准|以街道规定为准"
    r"|人物和情节为虚构|本文(?:有意)?不(?:写|列)"
)
_END = re.compile(r"[。！？；!?：:”’」』）)]$")


def is_list_item(line: str) -> bool:
    """A bulleted or numbered line ("- ……", "1. ……", "（一）……")."""
    return _BULLET.match(line) is not None


def _heading_line(line: str) -> bool:
    """A short line with no sentence end that is not a list item: a section heading in the text
    ("现场五步法", "遇到办事单位要求开证明时怎么办"), which names a topic but answers nothing."""
    return len(line) <= 24 and not _END.search(line) and not is_list_item(line) and "|" not in line


_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
# what is left of a line once a quoted question is dropped: "——回答：", "答：", a lone dash
_LEAD = re.compile(r"^(?:[—–：:，,、]+\s*|(?:回答|答)[：:]\s*)+")


def _table_row(line: str) -> str | None:
    """A Markdown table row as one statement, "亲属关系：由公安户籍部门查询；需要公证的，到公证机构",
    so that its cells are never split apart; ``""`` for the rule under the header."""
    if not (line.startswith("|") and line.endswith("|")):
        return None
    if _TABLE_RULE.match(line):
        return ""
    cells = [c.strip() for c in line.strip("|").split("|") if c.strip()]
    if len(cells) < 2:
        return " ".join(cells)
    return f"{cells[0]}：{'；'.join(c.rstrip('；;。') for c in cells[1:])}。"


def _tidy(s: str) -> str:
    s = _LEAD.sub("", s.strip()).strip()
    if s.count("**") % 2:  # bold cut in half by a sentence end: drop the marks rather than show "**"
        s = s.replace("**", "")
    return s


def _answerable(s: str) -> bool:
    # a question in the text (an FAQ heading, a quoted question) is never itself an answer
    return len(s) >= 4 and not _ABOUT_ITSELF.search(s) and not s.rstrip("”’」』）)").endswith(("？", "?"))


_JOINED_ITEM = re.compile(r"(?<=[。；！？;!?）)”」])\s*(?=(?:[-•]|\d+[.、])\s)")
_JOINED_ROW = re.compile(r"(?<=\|)[ \t]+(?=\|)")


def unpack_lines(passage: str) -> str:
    """List items and table rows that splitter version 1 packed onto one line, back on their own
    lines: stores split before version 2 keep such passages until their documents are re-ingested."""
    return _JOINED_ROW.sub("\n", _JOINED_ITEM.sub("\n", passage))


def sentences_of(text: str) -> list[str]:
    out = []
    lines = [line.strip().lstrip("#>").strip() for line in unpack_lines(text).split("\n")]
    for i, line in enumerate(lines):
        row = _table_row(line)
        if row is not None:
            header = i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]) is not None
            if row and not header and _answerable(row):
                out.append(row)
            continue
        if not line or _heading_line(line.replace("*", "")):
            continue
        pieces = [_tidy(s) for s in _SENT.findall(line)]
        if len(pieces) > 1 and len(pieces[-1]) <= 12 and not _END.search(pieces[-1]):
            pieces.pop()  # a heading splitter version 1 glued to a paragraph's end: "……。临时救助是什么"
        out.extend(s for s in pieces if _answerable(s))
    return out


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
    lines = [f"{_strip_bullet(s)}[{hi + 1}]" + "".join(f"[{j + 1}]" for j in more)
             for (hi, s), more in zip(sentences, extra, strict=True)]
    text = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)) if len(lines) > 1 else "".join(lines)
    return Draft(text, "extractive", sentences)


def _strip_bullet(s: str) -> str:
    return _BULLET.sub("", s).strip()


def markers(text: str) -> list[int]:
    """The ``[n]`` markers in an answer, in order of first appearance (1-based)."""
    seen: list[int] = []
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen
