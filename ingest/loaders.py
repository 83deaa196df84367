"""Loaders: bytes of one file -> raw text, chosen by suffix.

These run inside the sandboxed child process (:mod:`ingest.sandbox`), because parsing an
untrusted PDF or DOCX can hang or eat memory. Every failure is an :class:`IngestError` whose
message says, in Chinese, what was wrong with the file.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import IngestError

SUFFIXES = (".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")

# A DOCX is a zip: refuse archives that expand far beyond their size (zip bombs).
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_DOCX_RATIO = 100
# HTML nested deeper than this is refused before it is parsed into a tree. Chromium's own HTML parser
# stops nesting at 512; BeautifulSoup's searches walk the depth, so a hostile page of 100,000 nested
# <div> would keep it busy for minutes (the 120 s parse time-out), while 512 levels take 0.05 s.
MAX_HTML_DEPTH = 512


@dataclass
class RawDoc:
    """What a loader found: text plus anything the file itself says about the document."""

    text: str
    doc_id: str | None = None
    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def decode_bytes(data: bytes) -> str:
    """Decode text of unknown encoding: BOMs first, then UTF-8, GB18030, and a detector."""
    if not data:
        raise IngestError("文件是空的（0 字节）。")
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # UTF-16 without BOM: many NUL bytes in alternate positions
    if data.count(b"\x00") > len(data) // 4:
        for codec in ("utf-16-le", "utf-16-be"):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
    try:
        text = data.decode("gb18030")
        if _looks_like_text(text):
            return text
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and _looks_like_text(str(best)):
        return str(best)
    raise IngestError("无法识别文件编码：既不是 UTF-8、UTF-16，也不是 GB18030/GBK 文本，可能是二进制文件。")


def _looks_like_text(text: str) -> bool:
    if not text:
        return False
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\n\r\t") or 0xE000 <= ord(ch) <= 0xF8FF)
    return bad / len(text) < 0.01


def load_pdf(data: bytes) -> list[RawDoc]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:
                raise IngestError("PDF 已加密，需要密码才能读取；请上传未加密的版本。") from exc
            if not ok:
                raise IngestError("PDF 已加密，需要密码才能读取；请上传未加密的版本。")
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except FileNotDecryptedError as exc:
        raise IngestError("PDF 已加密，需要密码才能读取；请上传未加密的版本。") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise IngestError(f"PDF 文件已损坏或不是有效的 PDF：{exc}") from exc
    if not pages:
        raise IngestError("PDF 没有任何页面。")
    text = "\n".join(pages)
    if not text.strip():
        raise IngestError(f"PDF 共 {len(pages)} 页，但没有文字层（可能是扫描件），需要先做 OCR 文字识别。")
    title = None
    try:
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title)
    except Exception:
        title = None
    return [RawDoc(text=text, title=title)]


def _check_zip(data: bytes) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise IngestError("DOCX 文件已损坏（不是有效的 zip 压缩包）。") from exc
    total = sum(info.file_size for info in zf.infolist())
    if total > MAX_DOCX_UNCOMPRESSED or total > MAX_DOCX_RATIO * max(len(data), 1) + 10 * 1024 * 1024:
        raise IngestError(
            f"DOCX 解压后有 {total // (1024 * 1024)} MB，远大于文件本身（{len(data) // 1024} KB），"
            "疑似压缩炸弹，已拒绝。"
        )
    if "word/document.xml" not in zf.namelist():
        raise IngestError("DOCX 文件缺少 word/document.xml，不是有效的 Word 文档。")
    return zf


def load_docx(data: bytes) -> list[RawDoc]:
    _check_zip(data)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"DOCX 文件无法解析：{exc}") from exc
    lines: list[str] = []
    for para in document.paragraphs:
        style = (para.style.name or "") if para.style is not None else ""
        text = para.text.strip()
        if not text:
            lines.append("")
            continue
        if style.lower().startswith("heading") or style.startswith("标题"):
            level = "".join(ch for ch in style if ch.isdigit()) or "1"
            lines.append("#" * min(int(level), 6) + " " + text)
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    text = "\n".join(lines)
    if not text.strip():
        raise IngestError("DOCX 文档中没有文字。")
    title = document.core_properties.title or None
    return [RawDoc(text=text, title=title)]


class _TooDeep(Exception):
    pass


class _DepthProbe:
    """An lxml parser target that only counts how deep the elements nest, stopping past the limit."""

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrib: object) -> None:
        self.depth += 1
        if self.depth > MAX_HTML_DEPTH:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def check_html_depth(text: str) -> None:
    """Refuse a page nested deeper than :data:`MAX_HTML_DEPTH`, before BeautifulSoup builds it.

    The probe runs libxml2's HTML parser, the one BeautifulSoup's ``lxml`` builder runs, so it sees
    the same nesting (auto-closed tags included); it reads a megabyte in a few hundredths of a second
    and stops at the first element past the limit."""
    from lxml import etree

    parser = etree.HTMLParser(target=_DepthProbe())
    try:
        parser.feed(text)
        parser.close()
    except _TooDeep:
        raise IngestError(
            f"HTML 页面的标签嵌套超过 {MAX_HTML_DEPTH} 层（正常网页很少超过 100 层），可能是恶意构造的页面，已拒绝解析。"
            "请确认文件来源，或把正文另存为 TXT 后上传。") from None
    except etree.Error:
        pass  # what libxml2 cannot read, BeautifulSoup reports in its own way


def load_html(data: bytes) -> list[RawDoc]:
    from bs4 import BeautifulSoup

    text = decode_bytes(data)
    check_html_depth(text)
    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "aside", "form", "iframe"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    body = soup.find("article") or soup.find("main") or soup.body or soup
    for br in body.find_all("br"):
        br.replace_with("\n")
    blocks = []
    for el in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "pre", "div"]):
        if el.find(["p", "div", "li", "h1", "h2", "h3", "table"]):
            continue  # a container: its children are visited on their own
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name and el.name[0] == "h" and el.name[1:].isdigit():
            text = "#" * int(el.name[1:]) + " " + text
        blocks.append(text)
    text = "\n".join(blocks) if blocks else body.get_text("\n", strip=True)
    if not text.strip():
        raise IngestError("HTML 页面中没有正文文字。")
    return [RawDoc(text=text, title=title)]


def load_text(data: bytes) -> list[RawDoc]:
    text = decode_bytes(data)
    if not text.strip():
        raise IngestError("文件只有空白，没有文字。")
    return [RawDoc(text=text)]


def load_jsonl(data: bytes) -> list[RawDoc]:
    """Bulk import: each line ``{doc_id, title, text, ...metadata}`` is one document."""
    docs: list[RawDoc] = []
    seen: set[str] = set()
    for lineno, line in enumerate(decode_bytes(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"第 {lineno} 行不是有效的 JSON：{exc.msg}") from exc
        if not isinstance(obj, dict) or not obj.get("doc_id") or not isinstance(obj.get("text"), str):
            raise IngestError(f"第 {lineno} 行缺少 doc_id 或 text 字段。")
        doc_id = str(obj["doc_id"])
        if doc_id in seen:
            raise IngestError(f"第 {lineno} 行的 doc_id 重复：{doc_id}")
        seen.add(doc_id)
        meta = {k: v for k, v in obj.items() if k not in ("doc_id", "title", "text")}
        if isinstance(obj.get("metadata"), dict):
            meta.pop("metadata")
            meta.update(obj["metadata"])
        docs.append(RawDoc(text=obj["text"], doc_id=doc_id, title=obj.get("title") or None, meta=meta))
    if not docs:
        raise IngestError("JSONL 文件中没有任何文档。")
    return docs


LOADERS = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".jsonl": load_jsonl,
}


def load_bytes(data: bytes, suffix: str) -> list[RawDoc]:
    """Parse one file's bytes with the loader for its suffix."""
    loader = LOADERS.get(suffix.lower())
    if loader is None:
        raise IngestError(f"不支持的文件类型 {suffix or '（无扩展名）'}；支持：{'、'.join(SUFFIXES)}。")
    if not data:
        raise IngestError("文件是空的（0 字节）。")
    return loader(data)


def load_path(path: Path) -> list[RawDoc]:
    """Read and parse a file (in-process: use :func:`ingest.sandbox.load_sandboxed` for untrusted files)."""
    return load_bytes(path.read_bytes(), path.suffix)
