"""Broad questions about a whole guide get the guide's outline, each part cited.

"第一次上门走访独居老人要注意什么？" names a guide rather than a fact in it: the best answer is what
the guide covers, part by part (before the visit, the opening, the safety checklist, emergency
contacts, follow-up), not the three sentences that happen to score highest. This applies only when
every specific term of the question stands in the top document's title and the document has at
least three sections.

>>> parts = sections("# T\\n\\n## 走访前\\n\\n- 先看台账。\\n\\n## 检查\\n\\n**燃气**\\n- 软管是否老化\\n\\n**用电**\\n- 插线板是否串接\\n")
>>> [(p.heading, p.summary) for p in parts]
[('走访前', '先看台账。'), ('检查', '燃气、用电')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.types import Chunk, Hit
from app.rag.answerer import Draft
from app.rag.terms import QuestionTerms, specific_terms

# Words a broad question adds to a guide's title without narrowing it.
BROAD_WORDS = frozenset({"注意", "注意事项", "事项", "要点", "准备", "做", "做好", "工作", "社工", "社区工作者",
                         "居委会", "一下", "重点", "关注", "知道", "提醒"})
MIN_SECTIONS = 3
MAX_SECTIONS = 8
SUMMARY_CHARS = 44

_H2 = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_BOLD_LINE = re.compile(r"^\*\*([^*\n]{1,16})\*\*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.、．)])\s*")
_PAREN = re.compile(r"[（(][^）)]*[）)]")


@dataclass
class Section:
    heading: str
    summary: str
    first_line: str  # to find the chunk that holds the section


def _first_line(body: str) -> str:
    for line in body.splitlines():
        line = _BULLET.sub("", line.strip().lstrip(">").strip()).replace("**", "")
        if len(line) >= 4:
            return line
    return ""


def sections(doc_text: str) -> list[Section]:
    """The ``##`` sections of a Markdown document with a one-line summary each."""
    marks = list(_H2.finditer(doc_text))
    out = []
    for i, m in enumerate(marks):
        body = doc_text[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(doc_text)]
        labels = [_PAREN.sub("", b).strip() for b in _BOLD_LINE.findall(body)]
        first = _first_line(body)
        if len(labels) >= 2:
            summary = "、".join(labels)
        else:
            summary = re.split(r"(?<=[。；;！？])", first)[0]
            if len(summary) > SUMMARY_CHARS:
                summary = summary[:SUMMARY_CHARS].rstrip("，、；： ") + "……"
        if first:
            out.append(Section(m.group(1).strip(), summary, first))
    return out


def covers_title(terms: QuestionTerms, title: str) -> bool:
    """Every specific term of the question (but broad words) is in the title, and there are two."""
    specific = [t for t in terms.terms if t not in BROAD_WORDS]
    return len(specific) >= 2 and all(t in title for t in specific)


def section_echo(chunk: Chunk, question: str) -> float:
    """The share of the specific words of the chunk's own section heading (its last heading, when
    that is not just the document title) that the question repeats, or 0 below 0.7: two words of
    three in common are no echo. "走访时怎么提醒老人防诈骗" echoes the section "走访时怎么提醒"."""
    section = chunk.heading.rsplit(" > ", 1)[-1].strip() if chunk.heading else ""
    if not section or section == chunk.title:
        return 0.0
    words = specific_terms(section)
    if len(words) < 2:  # one word ("考社工证" -> 社工) is too little to name a section
        return 0.0
    share = sum(1 for w in words if w in question) / len(words)
    return share if share >= 0.7 else 0.0


def asked_section(question: str, chunks: Sequence[Chunk]) -> Chunk | None:
    """The section of the top document that the question names, if it names one."""
    best, echo = None, 0.0
    for c in chunks:
        e = section_echo(c, question)
        if e > echo:
            best, echo = c, e
    return best


def _squash(s: str) -> str:
    return re.sub(r"[\s\W_]+", "", s)


def outline(top: Hit, doc_text: str, chunks: Sequence[Chunk]) -> tuple[Draft, list[Hit]] | None:
    """The outline of ``top``'s document as a draft whose markers point into the returned hits."""
    parts = sections(doc_text)
    if len(parts) < MIN_SECTIONS:
        return None
    ordered = sorted(chunks, key=lambda c: c.position)
    hits: list[Hit] = []
    lines = []
    for part in parts[:MAX_SECTIONS]:
        probe = _squash(part.first_line)[:14]
        chunk = next((c for c in ordered if probe and probe in _squash(c.text)), None)
        if chunk is None:
            continue
        hit = next((h for h in hits if h.chunk_id == chunk.chunk_id), None)
        if hit is None:
            hit = Hit.from_chunk(chunk, top.score, top.dense, top.lexical)
            hits.append(hit)
        lines.append((part, hits.index(hit) + 1))
    if len(lines) < MIN_SECTIONS:
        return None
    body = "\n".join(f"{i}. **{_PAREN.sub('', p.heading).strip()}**：{p.summary}[{n}]"
                     for i, (p, n) in enumerate(lines, 1))
    text = f"《{top.title}》分{len(lines)}部分，要点如下（点开来源看每部分的详细内容）：\n{body}"
    return Draft(text, "extractive", [(n - 1, p.summary) for p, n in lines]), hits
