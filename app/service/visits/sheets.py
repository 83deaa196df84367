"""Spreadsheets in and out, safely: ``.xlsx`` (openpyxl, parsing through defusedxml, with the zip's
unpacked size checked first) and ``.csv`` (UTF-8 with or without BOM, or GB18030 as Excel writes it
in China). ``.xls`` and WPS files are refused with "请另存为 .xlsx". Cells that a spreadsheet would
run as a formula are refused on the way in and neutralised on the way out.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from app.core.errors import ValidationError

FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
MAX_UNPACKED_RATIO = 100  # a real sheet compresses ~5-20x; a zip bomb by thousands
MAX_ZIP_MEMBERS = 2000
OLD_FORMATS = {".xls", ".et", ".ett", ".wps", ".xlsb", ".xlsm", ".ods", ".numbers"}


def is_formula_like(value: str) -> bool:
    return value.startswith(FORMULA_LEAD)


def neutralise(value: Any) -> Any:
    """A cell for export: text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value and is_formula_like(value):
        return "'" + value
    return value


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip() if not isinstance(v, str) else v.strip(" \u3000")


def _check_zip(data: bytes, max_unpacked: int) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValidationError("文件不是有效的 .xlsx（无法按 xlsx 打开，可能已损坏，或是改了扩展名的其他文件）。") from exc
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ValidationError(f"文件内部条目过多（{len(infos)} 个），不像正常的表格，已拒绝。")
    total = sum(i.file_size for i in infos)
    if total > max_unpacked or total > MAX_UNPACKED_RATIO * max(1, len(data)):
        raise ValidationError(f"文件解压后达 {total / 1048576:.0f} MB，远大于文件本身，疑似“压缩炸弹”，已拒绝。")
    # A DTD may only come before the root element: the head of each XML part is enough to see one.
    # openpyxl would not expand entities (lxml without entity resolution, defusedxml for sheets), but
    # a spreadsheet program never writes a DTD, so a part that has one is refused outright.
    for info in infos:
        if info.filename.endswith((".xml", ".rels", ".vml")):
            with zf.open(info) as part:
                head = part.read(4096)
            if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
                raise ValidationError(f"文件中含有不允许的 XML 实体定义（{info.filename}），可能是恶意文件，已拒绝。")


def read_rows(filename: str, data: bytes, *, max_rows: int, max_bytes: int) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the first sheet; every cell as text."""
    suffix = PurePath(filename or "").suffix.lower()
    if len(data) > max_bytes:
        raise ValidationError(f"文件有 {len(data) / 1048576:.1f} MB，超过上限 {max_bytes / 1048576:.0f} MB。")
    if suffix in OLD_FORMATS:
        raise ValidationError(f"不支持 {suffix} 格式：请另存为 .xlsx 后再导入（Excel 或 WPS 里“文件 → 另存为”，选 .xlsx）。")
    if suffix == ".csv":
        rows = _csv_rows(data, max_rows)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(data, max_rows, max_bytes * MAX_UNPACKED_RATIO)
    else:
        raise ValidationError("只能导入 .xlsx 或 .csv 文件（.xls、WPS 文件请另存为 .xlsx）。")
    while rows and not any(rows[0]):
        rows.pop(0)
    if not rows:
        raise ValidationError("表格是空的：第一行应是列名（如 居委、小区、楼、室、姓名、电话、标签）。")
    header = [h.strip() for h in rows[0]]
    body = [r + [""] * (len(header) - len(r)) for r in rows[1:]]
    return header, body


def _csv_rows(data: bytes, max_rows: int) -> list[list[str]]:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError("CSV 文件的编码无法识别：请用 UTF-8 或 GB18030（Excel 默认的中文编码）保存。")
    if "\x00" in text:
        raise ValidationError("CSV 文件中有空字符，不像文本表格（是否把 .xlsx 改成了 .csv？）。")
    out: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text)):
            out.append([_cell(c) for c in row])
            if len(out) > max_rows + 1:
                raise ValidationError(f"表格超过 {max_rows} 行的上限，请分成几个文件导入。")
    except csv.Error as exc:
        raise ValidationError(f"CSV 文件格式有误：{exc}") from exc
    return out


def _xlsx_rows(data: bytes, max_rows: int, max_unpacked: int) -> list[list[str]]:
    _check_zip(data, max_unpacked)
    import openpyxl  # parses through defusedxml when it is installed (it is a dependency)

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except ValidationError:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged or hostile file
        name = type(exc).__name__
        if "Entities" in name or "DTD" in name or "External" in name:
            raise ValidationError("文件中含有不允许的 XML 实体定义（可能是恶意文件），已拒绝。") from exc
        raise ValidationError(f"无法读取这个 .xlsx 文件（{name}）：请确认文件没有损坏。") from exc
    try:
        ws = wb.worksheets[0]
        out: list[list[str]] = []
        for row in ws.iter_rows(values_only=True):
            out.append([_cell(c) for c in row])
            if len(out) > max_rows + 1:
                raise ValidationError(f"表格超过 {max_rows} 行的上限，请分成几个文件导入。")
        return out
    except ValidationError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if "Entities" in name or "DTD" in name or "External" in name:
            raise ValidationError("文件中含有不允许的 XML 实体定义（可能是恶意文件），已拒绝。") from exc
        raise ValidationError(f"读取表格内容时出错（{name}）：请确认文件没有损坏。") from exc
    finally:
        wb.close()


def write_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """(title, header, rows) per sheet -> .xlsx bytes, every text cell neutralised."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook(write_only=False)
    wb.remove(wb.active)  # type: ignore[arg-type]
    for title, header, rows in sheets:
        ws = wb.create_sheet(title[:31])
        ws.append(list(header))
        for c in ws[1]:
            c.font = Font(bold=True)
        for r in rows:
            ws.append([neutralise(v) for v in r])
        for i, h in enumerate(header, 1):
            ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width = max(8, min(40, len(str(h)) * 2 + 4))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
