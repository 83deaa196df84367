"""Document metadata: Markdown front matter, ``NAME.meta.yaml`` sidecars, CLI flags, and what the
text itself says (title, the document's own date).

Later sources win: text < front matter < sidecar < CLI flags. Validation errors name the field
and the bad value, in Chinese, so a trainer can fix the file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

from app.core.errors import ValidationError
from app.core.types import DOC_TYPES, UNSPECIFIED, DocMeta

META_KEYS = {f for f in DocMeta.__dataclass_fields__}
DATE_KEYS = ("published", "effective_from", "effective_to")
_TRUE = {"true", "yes", "1", "是", "对"}
_FALSE = {"false", "no", "0", "否", "不是", ""}


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so a bad date is reported by us, not by YAML."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``---\\nyaml\\n---\\nbody`` -> (mapping, body); text without front matter -> ({}, text)."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        data = _load_yaml(m.group(1)) or {}
    except (yaml.YAMLError, ValueError) as exc:
        raise ValidationError(f"文件开头的元数据（front matter）不是有效的 YAML：{exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("文件开头的元数据（front matter）必须是“键: 值”的形式。")
    return data, text[m.end() :]


def read_sidecar(path: Path) -> dict[str, Any]:
    """``NAME.meta.yaml`` (or ``NAME.EXT.meta.yaml``) beside a file, if present."""
    for cand in (path.with_suffix(".meta.yaml"), path.with_name(path.name + ".meta.yaml")):
        if cand.is_file():
            try:
                data = _load_yaml(cand.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ValidationError(f"元数据文件 {cand.name} 不是有效的 YAML：{exc}") from exc
            if not isinstance(data, dict):
                raise ValidationError(f"元数据文件 {cand.name} 必须是“键: 值”的形式。")
            return data
    return {}


def _as_date(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    s = str(value).strip()
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", s)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            pass
    raise ValidationError(f"日期字段 {key} 的值“{s}”无效，应写成 YYYY-MM-DD，例如 2024-04-28。")


def validate(raw: dict[str, Any], *, known_regions: set[str] | None = None) -> dict[str, Any]:
    """Check and normalise metadata fields; unknown keys are kept out, bad values raise."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in META_KEYS:
            continue
        if key in DATE_KEYS:
            out[key] = _as_date(key, value)
        elif key == "doc_type":
            v = str(value).strip() if value is not None else ""
            if v not in DOC_TYPES:
                raise ValidationError(f"doc_type 的值“{v}”无效，只能是 {'、'.join(DOC_TYPES)} 之一。")
            out[key] = v
        elif key == "fictional":
            v = str(value).strip().lower() if value is not None else ""
            if v not in _TRUE | _FALSE:
                raise ValidationError(f"fictional 的值“{value}”无效，只能是 true（虚构示例）或 false。")
            out[key] = v in _TRUE
        elif key == "region":
            v = str(value).strip() if value else UNSPECIFIED
            if known_regions is not None and v != UNSPECIFIED and v not in known_regions:
                raise ValidationError(f"region 的值“{v}”不在地区表（knowledge/regions.yaml）中。")
            out[key] = v
        else:
            out[key] = str(value).strip() if value is not None and str(value).strip() else None
    if out.get("effective_from") and out.get("effective_to") and out["effective_from"] >= out["effective_to"]:
        raise ValidationError(
            f"effective_from（{out['effective_from']}）必须早于 effective_to（{out['effective_to']}）。"
        )
    return out


def merge(*layers: dict[str, Any]) -> DocMeta:
    """Later layers win; ``None`` values do not override."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is not None and value != "":
                merged[key] = value
    for key in ("title", "source", "issuer", "region"):
        if key in merged and merged[key] is None:
            merged.pop(key)
    meta = DocMeta(**{k: v for k, v in merged.items() if k in META_KEYS})
    if meta.fictional and meta.doc_type == "政策":
        raise ValidationError("虚构的示例文件不能标为“政策”：请把 doc_type 改为“其他”（或“案例”），以免被当成真实规定。")
    return meta


# --------------------------------------------------------------------------------------------
# What the text itself says
# --------------------------------------------------------------------------------------------

_DATE_IN_TEXT = re.compile(r"(\d{4})\s*(?:年|-|/|\.)\s*(\d{1,2})\s*(?:月|-|/|\.)\s*(\d{1,2})\s*日?")
_NOT_OWN_DATE = re.compile(r"上传|发布于|转载|下载|浏览|阅读|收藏|更新|编辑于|截至|截止|访问")
_OWN_DATE_LABEL = re.compile(r"(?:成文日期|发布日期|印发日期|发文日期|日期)[:：]?\s*$")


def extract_date(raw_text: str) -> str | None:
    """The document's own date (成文/发布日期): a labelled date, a dateline under the title, or the
    date at the foot of the text; never an upload or repost date."""
    lines = [ln.strip() for ln in raw_text.splitlines() if ln.strip()]
    candidates: list[tuple[int, str]] = []
    for idx, line in enumerate(lines):
        head_or_foot = idx < 6 or idx >= len(lines) - 8
        for m in _DATE_IN_TEXT.finditer(line):
            if _NOT_OWN_DATE.search(line):
                continue
            try:
                date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
            except ValueError:
                continue
            before = line[: m.start()]
            if _OWN_DATE_LABEL.search(before):
                candidates.append((0, date))
            elif head_or_foot and len(line) <= 40:
                candidates.append((1, date))
    if not candidates:
        return None
    return min(candidates)[1]


_TITLE_BAD = re.compile(r"[。；]$|^[\d/\s]+$")


def extract_title(clean_text: str, fallback: str) -> str:
    """The first short line that reads like a title, else ``fallback`` (the file name)."""
    for line in clean_text.splitlines()[:8]:
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        m = re.match(r"^(《[^》]{4,60}》(?:详细解读|解读|全文)?)", line)
        if m:
            return m.group(1)
        if 4 <= len(line) <= 60 and not _TITLE_BAD.search(line) and "，" not in line:
            return line
        break
    return fallback
