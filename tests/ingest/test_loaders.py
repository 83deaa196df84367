"""Loaders on real files of every supported kind, and every kind of bad input, through the sandbox."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from app.core.errors import IngestError
from ingest.loaders import MAX_HTML_DEPTH, decode_bytes, load_bytes
from ingest.sandbox import load_sandboxed

TEXT = "第一次上门走访独居老人，要先核对紧急联系人。"


def sandboxed(path: Path, **kw: float) -> list:  # type: ignore[type-arg]
    return load_sandboxed(path, timeout_s=kw.get("timeout_s", 60), memory_mb=int(kw.get("memory_mb", 1024)))


def make_pdf(path: Path, lines: list[str], *, encrypt: str | None = None) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("STSong-Light", 12)
    for i, line in enumerate(lines):
        c.drawString(72, 760 - 18 * i, line)
    c.showPage()
    c.save()
    data = buf.getvalue()
    if encrypt is not None:
        from pypdf import PdfReader, PdfWriter

        w = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        w.encrypt(user_password=encrypt, owner_password="owner")
        out = io.BytesIO()
        w.write(out)
        data = out.getvalue()
    path.write_bytes(data)
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("走访工作指引", level=1)
    d.add_paragraph(TEXT)
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text = "紧急电话"
    t.rows[0].cells[1].text = "120"
    d.save(str(path))
    return path


class TestGoodFiles:
    def test_pdf_with_chinese_text(self, tmp_path: Path) -> None:
        docs = sandboxed(make_pdf(tmp_path / "a.pdf", [TEXT]))
        assert TEXT in docs[0].text

    def test_docx_keeps_headings_and_tables(self, tmp_path: Path) -> None:
        text = sandboxed(make_docx(tmp_path / "a.docx"))[0].text
        assert "# 走访工作指引" in text and TEXT in text and "紧急电话 | 120" in text

    def test_html_drops_scripts_and_navigation(self, tmp_path: Path) -> None:
        page = (
            "<html><head><title>走访指引</title><script>var x=1;</script></head><body>"
            "<nav>首页 | 登录</nav><article><h2>准备</h2><p>" + TEXT + "</p></article>"
            "<footer>版权所有</footer></body></html>"
        )
        (tmp_path / "a.html").write_text(page, encoding="utf-8")
        doc = sandboxed(tmp_path / "a.html")[0]
        assert doc.title == "走访指引"
        assert "## 准备" in doc.text and TEXT in doc.text
        assert "var x" not in doc.text and "登录" not in doc.text and "版权所有" not in doc.text

    @pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
    def test_text_encodings(self, tmp_path: Path, codec: str) -> None:
        (tmp_path / "a.txt").write_bytes(TEXT.encode(codec))
        assert sandboxed(tmp_path / "a.txt")[0].text.strip() == TEXT

    def test_jsonl_bulk_import_keeps_doc_ids(self, tmp_path: Path) -> None:
        lines = [{"doc_id": f"x:{i}", "title": f"标题{i}", "text": TEXT, "doc_type": "案例"} for i in range(3)]
        (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
        docs = sandboxed(tmp_path / "a.jsonl")
        assert [d.doc_id for d in docs] == ["x:0", "x:1", "x:2"]
        assert docs[0].meta == {"doc_type": "案例"}


class TestBadFiles:
    def expect(self, path: Path, fragment: str) -> None:
        with pytest.raises(IngestError) as err:
            sandboxed(path)
        assert fragment in str(err.value), str(err.value)

    def test_corrupt_pdf(self, tmp_path: Path) -> None:
        (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <</Type /Catalog>> garbage \x00\x01")
        self.expect(tmp_path / "bad.pdf", "PDF")

    def test_truncated_pdf(self, tmp_path: Path) -> None:
        good = make_pdf(tmp_path / "good.pdf", [TEXT]).read_bytes()
        (tmp_path / "cut.pdf").write_bytes(good[: len(good) // 3])
        with pytest.raises(IngestError):
            sandboxed(tmp_path / "cut.pdf")

    def test_encrypted_pdf(self, tmp_path: Path) -> None:
        self.expect(make_pdf(tmp_path / "enc.pdf", [TEXT], encrypt="secret"), "加密")

    def test_scanned_pdf_without_text_layer(self, tmp_path: Path) -> None:
        from pypdf import PdfWriter

        w = PdfWriter()
        w.add_blank_page(width=595, height=842)
        with open(tmp_path / "scan.pdf", "wb") as fh:
            w.write(fh)
        self.expect(tmp_path / "scan.pdf", "OCR")

    def test_empty_file(self, tmp_path: Path) -> None:
        (tmp_path / "empty.txt").write_bytes(b"")
        self.expect(tmp_path / "empty.txt", "空")

    def test_whitespace_only(self, tmp_path: Path) -> None:
        (tmp_path / "blank.md").write_text("   \n\n  ")
        self.expect(tmp_path / "blank.md", "空白")

    def test_unsupported_suffix(self, tmp_path: Path) -> None:
        (tmp_path / "a.xlsx").write_bytes(b"PK\x03\x04")
        self.expect(tmp_path / "a.xlsx", "不支持的文件类型")

    def test_undecodable_bytes(self, tmp_path: Path) -> None:
        (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 40)
        self.expect(tmp_path / "bin.txt", "编码")

    def test_docx_zip_bomb(self, tmp_path: Path) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml", b"<w:document>" + b"A" * (300 * 1024 * 1024) + b"</w:document>")
        (tmp_path / "bomb.docx").write_bytes(buf.getvalue())
        assert len(buf.getvalue()) < 2 * 1024 * 1024
        self.expect(tmp_path / "bomb.docx", "压缩炸弹")

    def test_docx_that_is_not_a_zip(self, tmp_path: Path) -> None:
        (tmp_path / "a.docx").write_bytes(b"this is not a zip file")
        self.expect(tmp_path / "a.docx", "DOCX")

    def test_jsonl_with_a_broken_line(self, tmp_path: Path) -> None:
        (tmp_path / "a.jsonl").write_text('{"doc_id": "a", "text": "x"}\n{broken\n')
        self.expect(tmp_path / "a.jsonl", "第 2 行")

    def test_deeply_nested_html_is_refused_before_parsing(self, tmp_path: Path) -> None:
        """100,000 nested <div>: refused by the depth probe (the message names the limit), where it
        used to keep BeautifulSoup busy until the parse time-out."""
        n = 100_000
        (tmp_path / "deep.html").write_text(f"<html><body>{'<div>' * n}深层内容{'</div>' * n}</body></html>")
        with pytest.raises(IngestError) as err:
            sandboxed(tmp_path / "deep.html", timeout_s=120)
        assert f"嵌套超过 {MAX_HTML_DEPTH} 层" in str(err.value), str(err.value)

    def test_parser_memory_limit(self, tmp_path: Path) -> None:
        """A parser that blows past the memory cap is stopped and reported, not the host."""
        big = tmp_path / "big.txt"
        big.write_text(TEXT * 400_000, encoding="utf-8")  # ~9 MB of text: > the 64 MB cap once decoded
        with pytest.raises(IngestError) as err:
            load_sandboxed(big, timeout_s=60, memory_mb=64)
        assert "内存" in str(err.value) or "异常退出" in str(err.value)


@pytest.mark.parametrize("tag", ["div", "span", "b", "table"])
def test_html_depth_limit_counts_what_the_parser_nests(tag: str) -> None:
    """At the limit a page still loads; one level more is refused, whatever the tag."""
    def page(levels: int) -> bytes:  # <html> and <body> are two of the levels
        inner = levels - 2
        return f"<html><body>{f'<{tag}>' * inner}深层内容{f'</{tag}>' * inner}</body></html>".encode()

    assert "深层内容" in load_bytes(page(MAX_HTML_DEPTH), ".html")[0].text
    with pytest.raises(IngestError, match=str(MAX_HTML_DEPTH)):
        load_bytes(page(MAX_HTML_DEPTH + 1), ".html")
    # tags the parser closes by itself do not nest: a long run of <p> is a flat page
    assert load_bytes(("<p>段落" * 5000).encode(), ".html")[0].text.count("段落") == 5000


def test_decode_prefers_utf8_then_gb18030() -> None:
    assert decode_bytes("走访".encode()) == "走访"
    assert decode_bytes("走访".encode("gb18030")) == "走访"
    with pytest.raises(IngestError):
        decode_bytes(b"")
