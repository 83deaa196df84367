"""Notice templates (高温关爱提醒, 停水停电通知, 活动通知): fields a worker fills, a body written by us.

The templates are data (``knowledge/notice_templates.yaml``); a 居委 can point
``SHEGONG_NOTICE_TEMPLATES`` at its own. Notices carry no resident's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.core.errors import NotFoundError, ValidationError

_FIELD = re.compile(r"\{(\w+)\}")
MAX_FIELD = 200


@dataclass(frozen=True)
class NoticeField:
    key: str
    label: str
    example: str
    required: bool


@dataclass(frozen=True)
class NoticeTemplate:
    key: str
    name: str
    fields: tuple[NoticeField, ...]
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name,
                "fields": [{"key": f.key, "label": f.label, "example": f.example, "required": f.required}
                           for f in self.fields]}

    def fill(self, values: dict[str, str], today_text: str) -> tuple[str, list[str]]:
        """The title and the body's lines with the fields filled in. A line whose only purpose is an
        optional field left empty ("报名方式：{signup}。") is dropped."""
        clean: dict[str, str] = {}
        missing: list[str] = []
        for f in self.fields:
            v = re.sub(r"\s+", " ", str(values.get(f.key, "") or "")).strip()
            if len(v) > MAX_FIELD:
                raise ValidationError(f"“{f.label}”太长了（{len(v)} 字），请控制在 {MAX_FIELD} 字以内。")
            if f.required and not v:
                missing.append(f.label)
            clean[f.key] = v
        if missing:
            raise ValidationError(f"请填写：{'、'.join(missing)}。")
        unknown = sorted(set(values) - set(clean))
        if unknown:
            raise ValidationError(f"模板“{self.name}”没有这些项：{'、'.join(unknown)}。")
        clean["today"] = today_text
        lines: list[str] = []
        for line in self.body.rstrip("\n").split("\n"):
            keys = _FIELD.findall(line)
            if any(not clean.get(k) for k in keys) and re.search(r"：\{\w+\}", line):
                continue
            lines.append(_FIELD.sub(lambda m: clean.get(m.group(1), ""), line))
        title = lines[0].strip()
        body = lines[1:]
        while body and not body[0].strip():
            body.pop(0)
        return title, body


def load_templates(path: Path) -> dict[str, NoticeTemplate]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"通知模板文件 {path.name} 读不出来：{exc}") from exc
    out: dict[str, NoticeTemplate] = {}
    for t in data.get("templates") or []:
        fields = tuple(NoticeField(str(f["key"]), str(f["label"]), str(f.get("example", "")), bool(f.get("required")))
                       for f in t.get("fields") or [])
        declared = {f.key for f in fields} | {"today"}
        stray = set(_FIELD.findall(t["body"])) - declared
        if stray:
            raise ValidationError(f"通知模板“{t['name']}”的正文用了没有声明的项：{'、'.join(sorted(stray))}。")
        out[str(t["key"])] = NoticeTemplate(str(t["key"]), str(t["name"]), fields, str(t["body"]))
    return out


def template(templates: dict[str, NoticeTemplate], key: str) -> NoticeTemplate:
    try:
        return templates[key]
    except KeyError:
        names = "、".join(f"{t.key}（{t.name}）" for t in templates.values())
        raise NotFoundError(f"没有“{key}”这个通知模板；可用的有：{names}。") from None
