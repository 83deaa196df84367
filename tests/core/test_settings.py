"""Defaults that name files of the checkout must name them wherever the code lives (a move of
settings.py into app/core once left the default knowledge base pointing at app/knowledge)."""

from __future__ import annotations

from pathlib import Path

from app.core.settings import PROJECT_ROOT, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_knowledge_base_region_tree_and_tag_file_exist() -> None:
    s = Settings()
    assert PROJECT_ROOT == ROOT
    assert s.knowledge_dir == ROOT / "knowledge" and any(s.knowledge_dir.rglob("*.md"))
    assert s.regions_file.is_file() and s.visit_tags_file.is_file()


def test_an_operators_tag_file_wins(tmp_path: Path) -> None:
    own = tmp_path / "tags.yaml"
    own.write_text("tags: []\n", encoding="utf-8")
    assert Settings(visit_tags=own).visit_tags_file == own
    assert Settings(visit_tags="").visit_tags_file == ROOT / "knowledge" / "visit_tags.yaml"
