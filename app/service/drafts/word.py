"""A draft as a Word file (.docx, python-docx): reports go up as Word files.

The text is the worker's edited text: its first line is the title, a line such as "一、总体情况" a
heading, the rest paragraphs. Chinese text needs its East Asian font named on every run, or Word
falls back to a Latin font's metrics; 仿宋 body and 黑体 headings follow common 公文 practice.
"""

from __future__ import annotations

import io
import re

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.text.run import Run

from app.core.errors import ValidationError
from app.service.drafts.types import DEMO_NOTE, DRAFT_NOTE

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
MAX_TEXT = 50_000
_HEADING = re.compile(r"^[一二三四五六七八九十]+、|^附[：:]")
# Characters XML 1.0 cannot hold (python-docx would fail on them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _font(run: Run, name: str, size: float, *, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    rpr = run._element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), name)


def to_docx(text: str, *, demo: bool = False) -> bytes:
    text = _CONTROL.sub("", text or "").strip()
    if not text:
        raise ValidationError("材料是空的，没有可以导出的内容。")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"材料太长了（{len(text)} 字），导出上限是 {MAX_TEXT} 字。")
    lines = text.split("\n")
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = BODY_FONT
    normal.font.size = Pt(14)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(lines[0].strip()), HEADING_FONT, 18, bold=True)
    for line in lines[1:]:
        line = line.rstrip()
        p = doc.add_paragraph()
        if _HEADING.match(line.strip()):
            _font(p.add_run(line.strip()), HEADING_FONT, 14)
        else:
            p.paragraph_format.first_line_indent = Pt(28) if line and not line[:1].isdigit() else None
            _font(p.add_run(line), BODY_FONT, 14)
    note = doc.add_paragraph()
    _font(note.add_run("\n".join([DRAFT_NOTE, *([DEMO_NOTE] if demo else [])])), BODY_FONT, 10)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
