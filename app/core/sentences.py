"""What a candidate sentence is, for ingest (which embeds them ahead of questions) and for the
selector (which scores them): list items and table rows as statements; headings, questions quoted
in the text and a document's notes about itself left out.

>>> sentences_of("## 补贴\\n\\n中级证书奖励2000元。初级没有写。")
['中级证书奖励2000元。', '初级没有写。']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SENT = re.compile(r"[^。！？；!?\n]+[。！？；!?]*[”’」』）)]*")
# a "*" bullet is followed by a space; "**" opens bold text and is not a bullet
_BULLET = re.compile(r"^\s*(?:[-•·]|\*(?!\*)|\d+[.、．)]|（[一二三四五六七八九十\d]+）|[一二三四五六七八九十]+、)\s*")


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


def strip_bullet(s: str) -> str:
    return _BULLET.sub("", s).strip()


def in_context(title: str, heading: str, sentence: str) -> str:
    """A sentence with the title and heading it stands under: "指南 > 走访前：带上工作证。" is
    embedded too, since a list item alone ("带上工作证。") says little about what it answers."""
    head = " > ".join(p for p in (title, heading) if p)
    return f"{head}：{sentence}" if head else sentence


def sentence_texts(passages: Iterable[tuple[str, str, str]]) -> list[str]:
    """Every text the selector embeds for passages given as (title, heading, text): each candidate
    sentence alone and in its context (for ingest to embed ahead of questions)."""
    out: dict[str, None] = {}
    for title, heading, text in passages:
        for s in sentences_of(text):
            out[s] = None
            out[in_context(title, heading, s)] = None
    return list(out)
