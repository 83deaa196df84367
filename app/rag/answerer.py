"""Answerers: one interface for the offline extractive answerer and the LLM answerer.

The extractive answerer needs no model: it scores the sentences of the top passages by the
question's specific terms (weighted by rarity), the kind of answer asked for (an amount, a date,
a count...) and the passage's rank, and returns the best few as a short answer with ``[n]``
markers that point at the cited passages.

>>> ExtractiveAnswerer().answer("中级证书奖励多少？", hits).text      # doctest: +SKIP
'街道向2023年考取社会工作者资格证书的社区工作者颁发一次性奖励，中级高达2000元。[1]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.rag.retriever import Hit
from app.rag.terms import QuestionTerms, analyse, has_evidence_for_kind

_SENT = re.compile(r"[^。！？；!?\n]+[。！？；!?]*[”’」』）)]*")
# a "*" bullet is followed by a space; "**" opens bold text and is not a bullet
_BULLET = re.compile(r"^\s*(?:[-•·]|\*(?!\*)|\d+[.、．)]|（[一二三四五六七八九十\d]+）|[一二三四五六七八九十]+、)\s*")
_MARKER = re.compile(r"\[(\d{1,2})\]")
# the label that starts what to do about a situation: "**怎么做**：", "处置："
_WHAT_TO_DO = re.compile(r"^[\s\-•*]*(?:怎么做|如何做|怎么办|做法|处理|处置|应对|对策)\**\s*[：:]")
# a label standing alone ("**怎么做**：") introduces what follows and answers nothing itself
_LABEL_ONLY = re.compile(r"^[\s\-•*]*[^\s：:*]{1,8}\**\s*[：:]$")
# a sentence that names the kinds there are: the answer to "分为哪几类"
_KINDS_NAMED = re.compile(r"(?:分为|分成|包括|包含|主要有|共有)[^。；]{0,60}[一二两三四五六七八九十\d]+(?:类|种|大类)"
                          r"|[一二两三四五六七八九十\d]+(?:类|种|大类)[：:]")
# a sentence that defines: the answer to "……是什么意思", "……是怎么定义的"
_DEFINES = re.compile(r"是指|指的是|定义(?:为|是|指)|”指|」指|\*\*指|意思是|含义是|指在")
# a sentence that says where to go: the answer to "去哪里申请"
_PLACE = re.compile(r"(?:向|到|去|找|由|在)[^，。；]{0,14}(?:街道|镇政府|中心|窗口|部门|机构|办事处|派出所|公安|法院|医院|热线|随申办)")
# a sentence that says what not to do: the answer to "哪些事情不能做"
_PROHIBITS = re.compile(r"不要|不得|不能|不可|不准|不许|禁止|严禁|切勿|避免")


@dataclass
class Draft:
    """An answer before it is checked and dressed: text with [n] markers into ``hits``."""

    text: str
    mode: str  # extractive | llm
    sentences: list[tuple[int, str]] = field(default_factory=list)  # (hit index, sentence) used


class Answerer(Protocol):
    def answer(self, question: str, hits: Sequence[Hit], terms: QuestionTerms | None = None) -> Draft: ...


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


def flat_idf(_: str) -> float:
    return 1.0


@dataclass
class ScoredSentence:
    hit_index: int
    position: int
    text: str
    score: float


class ExtractiveAnswerer:
    """Offline answers: the sentences of the top passages that best match the question."""

    def __init__(self, idf: IdfFn = flat_idf, *, max_passages: int = 5, max_chars: int = 260) -> None:
        self.idf = idf
        self.max_passages = max_passages
        self.max_chars = max_chars

    def score_sentences(self, hits: Sequence[Hit], terms: QuestionTerms) -> list[ScoredSentence]:
        weights = {t: self.idf(t) for t in terms.terms}
        total = sum(weights.values()) or 1.0
        out: list[ScoredSentence] = []
        for hi, hit in enumerate(hits[: self.max_passages]):
            context = f"{hit.title} {hit.heading}"
            prior = 1.0 / (1.0 + 0.35 * hi)
            for pos, s in enumerate(sentences_of(hit.text)):
                match = sum(w * max(term_presence(t, s), 0.5 * term_presence(t, context)) for t, w in weights.items())
                score = match / total
                if terms.kind in ("amount", "frequency", "count", "date") and has_evidence_for_kind(terms.kind, s):
                    score += 0.25
                if _BULLET.match(s) and terms.kind in ("list", "procedure"):
                    score += 0.05
                if terms.prohibition and _PROHIBITS.search(s):
                    score += 0.25
                if terms.where and _PLACE.search(s):
                    score += 0.25
                if terms.categories and _KINDS_NAMED.search(s):
                    score += 0.25
                if terms.definition and _DEFINES.search(s):
                    score += 0.25
                out.append(ScoredSentence(hi, pos, s, score * prior))
        return out

    def answer(self, question: str, hits: Sequence[Hit], terms: QuestionTerms | None = None) -> Draft:
        terms = terms or analyse(question)
        everything = self.score_sentences(hits, terms)
        scored = [s for s in everything if not _LABEL_ONLY.match(s.text)]
        if not scored:
            return Draft("", "extractive")
        best = max(scored, key=lambda s: s.score)
        many = terms.kind in ("list", "procedure")
        limit = self.max_chars * (2 if many else 1)
        chosen = [best]
        used = len(best.text)
        if terms.action:
            # "……怎么办": the best match often states the situation; what to do follows it, after
            # a label such as "怎么做：" when the passage has one
            after = sorted((s for s in everything if s.hit_index == best.hit_index and s.position > best.position),
                           key=lambda s: s.position)
            start = next((i for i, s in enumerate(after) if _WHAT_TO_DO.match(s.text)), None)
            for s in after[start : start + 5] if start is not None else after[:3]:
                s.score = max(s.score, best.score * 0.5)
        # what not to do or where to go, when that is asked; then neighbours from the best passage
        # (lists and steps continue there); then the others
        pool = sorted(scored, key=lambda s: (-(terms.prohibition and bool(_PROHIBITS.search(s.text))),
                                             -(terms.where and bool(_PLACE.search(s.text))),
                                             -(s.hit_index == best.hit_index and many), -s.score))
        for s in pool:
            if s is best or s.score < best.score * (0.35 if many else 0.6):
                continue
            if used + len(s.text) > limit or len(chosen) >= (6 if many else 3):
                continue
            if any(s.text == c.text for c in chosen):
                continue
            chosen.append(s)
            used += len(s.text)
        chosen.sort(key=lambda s: (s.hit_index, s.position))
        return draft_of([(s.hit_index, s.text) for s in chosen])

    def section(self, hit: Hit) -> Draft:
        """A section the question names ("走访时怎么提醒……"), in its own order: the whole section
        is the answer, as far as the length allows."""
        chosen: list[str] = []
        used = 0
        for s in sentences_of(hit.text):
            if _LABEL_ONLY.match(s):
                continue
            if chosen and (used + len(s) > self.max_chars * 2 or len(chosen) >= 6):
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
