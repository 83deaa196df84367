"""Chinese-aware splitting: headings first, then sentence ends, then size.

Headings are recognised on their own line (Markdown ``#``, ``第X章/条``, ``一、``, ``（一）``, or a
short line standing alone) and inline after a sentence end (``…意见。一、主要目标…``), so that each
chunk carries its heading path. A chunk never cuts a sentence unless that sentence alone exceeds
the size limit. Chunk ids derive from content, so re-splitting unchanged text gives the same ids.

>>> chunks = split_text("一、目标\\n到2025年，比例不低于30%。", doc_id="d", title="意见", size=100, overlap=0)
>>> chunks[0].heading, chunks[0].text
('一、目标', '到2025年，比例不低于30%。')
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from app.core.types import Chunk, DocMeta

_CN_NUM = "一二三四五六七八九十百零〇两"
# (level, pattern) — lower level is higher in the tree
_LINE_HEADINGS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (1, re.compile(rf"^第[{_CN_NUM}\d]+[编章]")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (3, re.compile(rf"^[{_CN_NUM}]+、")),
    (4, re.compile(rf"^（[{_CN_NUM}]+）")),
    (5, _ARTICLE := re.compile(rf"^第[{_CN_NUM}\d]+条")),
)
# an article line that reads as a sentence (a comma, or a list's lead-in colon) is body text
_ARTICLE_TEXT = re.compile(r"[，,]|[：:]\s*$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+)$")
# inline headings that start right after a sentence end
_INLINE = re.compile(rf"(?<=[。；！？：])(?=(?:[{_CN_NUM}]{{1,3}}、|（[{_CN_NUM}]{{1,3}}）|第[{_CN_NUM}\d]{{1,4}}条))")
_SENTENCE = re.compile(r"[^。！？；!?…\n]*(?:[。！？；!?…]+[”’」』）)]*|\n|$)")
_CLAUSE = re.compile(r"[^，、,：:]*(?:[，、,：:]|$)")
_HEADING_LABEL_MAX = 16
# Part of every document's fingerprint: a change in how text is split re-splits it on the next ingest.
# 2: line breaks after a sentence end are kept (1 packed list items and table rows onto one line).
# 3: an article's own line that reads as a sentence ("第四十八条 有下列情形之一的，……：") is text, not a
#    heading (2 dropped such lead-ins from the chunk text when the section was not merged).
SPLITTER_VERSION = "3"


@dataclass
class _Section:
    path: list[str]
    text: str
    start: int
    label_in_text: bool = True  # an inline heading is part of the text; a line heading is not


def _merge_small(sections: list[_Section], size: int) -> list[_Section]:
    """Merge runs of small neighbouring sections (list items, short paragraphs) under their
    common heading, so that a chunk is not one 30-character line; the heading of a merged
    line-level section stays in the text as its first line."""
    out: list[_Section] = []
    for sec in sections:
        if out:
            prev = out[-1]
            common = 0
            while common < min(len(prev.path), len(sec.path)) and prev.path[common] == sec.path[common]:
                common += 1
            body = sec.text if sec.label_in_text or not sec.path else f"{sec.path[-1]}\n{sec.text}"
            if common >= min(len(prev.path), len(sec.path)) - 1 and len(prev.text) + len(body) + 1 <= size:
                if not prev.label_in_text and prev.path and len(prev.path) > common:
                    prev.text = f"{prev.path[-1]}\n{prev.text}"
                    prev.label_in_text = True
                prev.text = f"{prev.text}\n{body}"
                prev.path = prev.path[:common]
                continue
        out.append(_Section(list(sec.path), sec.text, sec.start, sec.label_in_text))
    return out


def _heading_level(line: str) -> tuple[int, str] | None:
    m = _MD_HEADING.match(line)
    if m:
        return len(m.group(1)), m.group(2).strip()
    for level, pat in _LINE_HEADINGS:
        if pat.match(line) and len(line) <= 40 and not re.search("[。；！？]$", line):
            if pat is _ARTICLE and _ARTICLE_TEXT.search(line):
                return None  # "第四十八条 有下列情形之一的，……决定：" is the article's text, not its title
            return level + 6, line
    return None


def _sections(text: str) -> list[_Section]:
    """Walk lines and inline markers, keeping a heading stack."""
    stack: list[tuple[int, str]] = []
    out: list[_Section] = []
    buf: list[str] = []
    buf_start = 0
    offset = 0

    inline_label = False

    def flush() -> None:
        body = "\n".join(buf).strip()
        if body:
            out.append(_Section([h for _, h in stack], body, buf_start, inline_label or not stack))
        buf.clear()

    def push(level: int, label: str) -> None:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, label))

    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        head = _heading_level(stripped) if stripped else None
        standalone = (
            head is None
            and 2 <= len(stripped) <= 30
            and not re.search("[。，；,]", stripped)
            and i + 1 < len(lines)
            and (not lines[i - 1].strip() if i > 0 else True)
            and len(lines[i + 1].strip()) == 0
        )
        if head is not None or standalone:
            flush()
            level, label = head if head is not None else (6, stripped)
            push(level, label)
            inline_label = False
            buf_start = offset + len(line) + 1
        else:
            # inline headings inside a long paragraph
            parts = _INLINE.split(line) if len(line) > 80 else [line]
            local = offset
            for part in parts:
                inline = None
                for level, pat in _LINE_HEADINGS:
                    if pat.match(part):
                        inline = level + 6
                        break
                if inline is not None and buf:
                    flush()
                    buf_start = local
                if inline is not None:
                    label = re.split(r"[。；，：！？]", part, maxsplit=1)[0]
                    if len(label) > _HEADING_LABEL_MAX:
                        label = label[:_HEADING_LABEL_MAX] + "…"
                    push(inline, label)
                    inline_label = True
                if not buf:
                    buf_start = local
                buf.append(part)
                local += len(part)
        offset += len(line) + 1
    flush()
    return out


def _sentences(text: str) -> list[str]:
    """Sentences with their line breaks: a break after a sentence end stays with that sentence, so
    that list items, table rows and headings keep their own lines in the chunk."""
    out: list[str] = []
    for s in _SENTENCE.findall(text):
        if s.strip():
            out.append(s)
        elif "\n" in s and out and not out[-1].endswith("\n"):
            out[-1] += "\n"
    return out


def _pieces(sentence: str, size: int) -> list[str]:
    """A sentence longer than ``size`` is cut at clause marks, then hard."""
    if len(sentence) <= size:
        return [sentence]
    out: list[str] = []
    cur = ""
    for clause in (c for c in _CLAUSE.findall(sentence) if c):
        while len(clause) > size:
            if cur:
                out.append(cur)
                cur = ""
            out.append(clause[:size])
            clause = clause[size:]
        if len(cur) + len(clause) > size and cur:
            out.append(cur)
            cur = ""
        cur += clause
    if cur:
        out.append(cur)
    return out


def _pack(sentences: list[str], size: int, overlap: int) -> list[tuple[str, int]]:
    """Greedy packing of sentences into chunks of at most ``size`` characters, with a tail of whole
    sentences (at most ``overlap`` characters) repeated at the head of the next chunk.
    Returns (text, offset of the chunk within the section)."""
    units: list[tuple[str, int]] = []
    pos = 0
    for s in sentences:
        for p in _pieces(s, size):
            units.append((p, pos))
            pos += len(p)
    chunks: list[tuple[str, int]] = []
    i = 0
    while i < len(units):
        j = i
        length = 0
        while j < len(units) and (length + len(units[j][0]) <= size or j == i):
            length += len(units[j][0])
            j += 1
        text = "".join(u[0] for u in units[i:j]).strip()
        if text:
            chunks.append((text, units[i][1]))
        if j >= len(units):
            break
        # step back for overlap, by whole units, but always make progress
        k = j
        back = 0
        while k - 1 > i and back + len(units[k - 1][0]) <= overlap:
            k -= 1
            back += len(units[k][0])
        i = k if k > i else j
    return chunks


def chunk_id(doc_id: str, text: str, dup: int) -> str:
    return hashlib.sha256(f"{doc_id}\x1f{text}\x1f{dup}".encode()).hexdigest()[:32]


def split_text(
    text: str,
    *,
    doc_id: str,
    title: str,
    size: int,
    overlap: int,
    meta: DocMeta | None = None,
) -> list[Chunk]:
    """Split cleaned text into chunks with heading paths, positions and content-derived ids."""
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError(f"bad chunking parameters: size={size}, overlap={overlap}")
    meta = meta or DocMeta(title=title)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in _merge_small(_sections(text), size):
        heading = " > ".join(section.path)
        for piece, off in _pack(_sentences(section.text), size, overlap):
            dup = seen.get(piece, 0)
            seen[piece] = dup + 1
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc_id, piece, dup),
                    doc_id=doc_id,
                    position=len(chunks),
                    text=piece,
                    heading=heading,
                    title=title,
                    meta=meta,
                    start=section.start + off,
                )
            )
    return chunks
