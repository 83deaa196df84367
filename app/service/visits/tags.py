"""Visit tags as data (``knowledge/visit_tags.yaml``, or the file ``SHEGONG_VISIT_TAGS`` names): each
tag's meaning, its suggested visit and contact intervals (建议值), the checklist items it adds, the
knowledge-base documents it relates to, and whether extreme weather makes it due at once.

>>> book = TagBook.load(Path("knowledge/visit_tags.yaml"))            # doctest: +SKIP
>>> book.canonical("独居")                                             # doctest: +SKIP
'独居老人'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.core.errors import ConfigError, ValidationError


@dataclass(frozen=True)
class Tag:
    name: str
    meaning: str = ""
    visit_days: int | None = None
    contact_days: int | None = None
    priority: int = 0
    weather: bool = False
    checklist: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    doc_queries: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "meaning": self.meaning, "visit_days": self.visit_days,
                "contact_days": self.contact_days, "suggested": True, "priority": self.priority,
                "weather": self.weather, "checklist": list(self.checklist), "aliases": list(self.aliases),
                "documents": {"ids": list(self.doc_ids), "queries": list(self.doc_queries)}}


def _days(entry: dict[str, Any], key: str, where: str) -> int | None:
    v = entry.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 3650:
        raise ConfigError(f"{where}：{key} 应为 1 到 3650 之间的整数（天），现在是“{v}”。")
    return v


def _strings(v: Any, key: str, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ConfigError(f"{where}：{key} 应为文字列表。")
    return tuple(x.strip() for x in v)


@dataclass(frozen=True)
class TagBook:
    tags: tuple[Tag, ...]
    checklist_always: tuple[str, ...] = ()
    default_visit_days: int = 90
    source: str = ""
    _by_name: dict[str, Tag] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path) -> TagBook:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"走访标签文件不存在：{path}") from exc
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"走访标签文件 {path} 无法解析：{exc}") from exc
        return cls.from_data(data, source=str(path))

    @classmethod
    def from_data(cls, data: Any, *, source: str = "") -> TagBook:
        if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
            raise ConfigError(f"走访标签文件 {source} 应有一个 tags 列表。")
        tags: list[Tag] = []
        for i, e in enumerate(data["tags"], 1):
            where = f"{source} 第 {i} 个标签"
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"].strip():
                raise ConfigError(f"{where}缺少 name。")
            docs = e.get("documents") or {}
            if not isinstance(docs, dict):
                raise ConfigError(f"{where}：documents 应包含 ids 和/或 queries。")
            prio = e.get("priority", 0)
            if not isinstance(prio, int):
                raise ConfigError(f"{where}：priority 应为整数。")
            tags.append(Tag(
                name=e["name"].strip(), meaning=str(e.get("meaning", "")), visit_days=_days(e, "visit_days", where),
                contact_days=_days(e, "contact_days", where), priority=prio, weather=bool(e.get("weather", False)),
                checklist=_strings(e.get("checklist"), "checklist", where),
                doc_ids=_strings(docs.get("ids"), "documents.ids", where),
                doc_queries=_strings(docs.get("queries"), "documents.queries", where),
                aliases=_strings(e.get("aliases"), "aliases", where)))
        by_name: dict[str, Tag] = {}
        for t in tags:
            for n in (t.name, *t.aliases):
                if n in by_name:
                    raise ConfigError(f"{source}：标签名或别名“{n}”出现了两次。")
                by_name[n] = t
        default = data.get("default_visit_days", 90)
        if not isinstance(default, int) or default < 1:
            raise ConfigError(f"{source}：default_visit_days 应为正整数。")
        return cls(tuple(tags), _strings(data.get("checklist_always"), "checklist_always", source), default,
                   source, by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Tag:
        return self._by_name[name]

    def canonical(self, name: str) -> str:
        """The tag's own name for a name or alias; ValidationError for an unknown one."""
        t = self._by_name.get(name.strip())
        if t is None:
            raise ValidationError(f"未知的标签“{name}”（可用：{'、'.join(x.name for x in self.tags)}）。")
        return t.name

    def canonical_list(self, names: list[str]) -> list[str]:
        out: list[str] = []
        for n in names:
            c = self.canonical(n)
            if c not in out:
                out.append(c)
        return out

    def checklist(self, tag_names: list[str]) -> list[str]:
        """The items a visit to a household with these tags asks about, each once, in order."""
        items = list(self.checklist_always)
        for n in tag_names:
            if n in self._by_name:
                items += [x for x in self._by_name[n].checklist if x not in items]
        return items
