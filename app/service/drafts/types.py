"""What a draft is: its text for the worker to edit, and the facts every figure in it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = {"visit_summary": "走访小结", "work_log": "工作日志", "monthly_report": "走访情况报告", "notice": "通知"}
DRAFT_NOTE = "草稿：由社工AI助手根据系统里的记录生成，请核对、修改后再使用。"
DEMO_NOTE = "注意：其中含虚构的示例数据（演示用），不是真实居民的情况。"


@dataclass(frozen=True)
class Fact:
    """One figure or name the draft states, and the record it was taken from."""

    label: str
    value: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "value": self.value, "source": self.source}


@dataclass
class Draft:
    kind: str
    title: str
    lines: list[str]
    facts: list[Fact] = field(default_factory=list)
    # Which residents' records went into it (kind -> ids), for the access log of a download
    used: dict[str, list[int]] = field(default_factory=dict)
    masked: bool = True
    demo: bool = False
    drafted_by: str = "template"
    note: str = ""

    @property
    def text(self) -> str:
        return "\n".join([self.title, "", *self.lines]).strip() + "\n"

    def fact(self, label: str, value: Any, source: str) -> str:
        """Records a fact and returns its value as text, for use inside a sentence."""
        text = _fmt(value)
        self.facts.append(Fact(label, text, source))
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "kind_name": KINDS[self.kind], "title": self.title, "text": self.text,
                "facts": [f.to_dict() for f in self.facts], "masked": self.masked, "demo": self.demo,
                "drafted_by": self.drafted_by, "note": self.note,
                "notices": [DRAFT_NOTE, *([DEMO_NOTE] if self.demo else [])]}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return str(value)


def percent(done: int, due: int) -> str:
    return f"{round(100 * done / due)}%" if due else "—"
