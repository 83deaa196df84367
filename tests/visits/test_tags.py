"""The tag file: the shipped one loads, every interval is marked a suggestion in the API's shape,
and a broken operator file gets a Chinese error naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ConfigError, ValidationError
from app.service.visits.tags import TagBook

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_tags() -> None:
    book = TagBook.load(ROOT / "knowledge" / "visit_tags.yaml")
    names = {t.name for t in book.tags}
    assert {"独居老人", "高龄", "纯老家庭", "残疾人", "低保", "低收入", "困难家庭", "重点关注"} <= names
    assert book.canonical("独居") == "独居老人"
    assert all(t.to_dict()["suggested"] for t in book.tags)
    assert all(t.doc_queries or t.doc_ids for t in book.tags)
    items = book.checklist(["独居老人", "高龄"])
    assert items[: len(book.checklist_always)] == list(book.checklist_always) and len(items) == len(set(items))
    with pytest.raises(ValidationError, match="未知的标签"):
        book.canonical("外星人")


@pytest.mark.parametrize(("text", "error"), [
    ("tags: 3", "tags 列表"),
    ("tags:\n  - meaning: x", "缺少 name"),
    ("tags:\n  - name: 甲\n    visit_days: 0", "visit_days"),
    ("tags:\n  - name: 甲\n  - name: 乙\n    aliases: [甲]", "出现了两次"),
    ("tags: [\n", "无法解析"),
])
def test_a_broken_operator_file_says_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    f = tmp_path / "tags.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        TagBook.load(f)
