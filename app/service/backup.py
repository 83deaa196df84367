"""Consistent backup and restore of a data dir (manifest, Chroma store, lexical index, and the
records database: accounts, conversations, the visit module's roster, visits, follow-ups and
access log).

A backup is taken under the writers' lock, with SQLite files copied through the online backup API,
so it is consistent even while a server reads. Restore never deletes the current data: it is
moved aside to ``DATA_DIR/../NAME.before-restore-TIMESTAMP`` first.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from app.core.errors import ValidationError
from app.core.manifest import Manifest
from app.core.settings import Settings
from ingest.pipeline import data_lock

BACKUP_INFO = "shegong-backup.json"


def _sqlite_copy(src: Path, dst: Path) -> None:
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def backup(settings: Settings, target: Path) -> dict[str, Any]:
    """Write a restorable copy of the data dir into ``target`` (which must be empty or absent)."""
    if settings.database_url:
        raise ValidationError("知识库清单和记录在 PostgreSQL 中（SHEGONG_DATABASE_URL）：请用 pg_dump 备份数据库；"
                              "Chroma 和检索索引可由清单重建，无需备份。")
    if target.exists() and any(target.iterdir()):
        raise ValidationError(f"备份目录 {target} 不是空目录，请换一个目录。")
    if not settings.manifest_path.is_file():
        raise ValidationError(f"数据目录 {settings.data_dir} 中还没有知识库，无需备份。")
    target.mkdir(parents=True, exist_ok=True)
    with data_lock(settings.data_dir):
        _sqlite_copy(settings.manifest_path, target / settings.manifest_path.name)
        if settings.service_db_path.is_file():
            _sqlite_copy(settings.service_db_path, target / settings.service_db_path.name)
        if settings.chroma_dir.is_dir():
            shutil.copytree(settings.chroma_dir, target / "chroma", ignore=shutil.ignore_patterns("*.lock"))
            db = settings.chroma_dir / "chroma.sqlite3"
            if db.is_file():
                _sqlite_copy(db, target / "chroma" / "chroma.sqlite3")
        if settings.lexical_dir.is_dir():
            shutil.copytree(settings.lexical_dir, target / "lexical")
        m = Manifest(target / settings.manifest_path.name)
        info = {
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "documents": len(m.documents()),
            "chunks": m.count_chunks(),
            "generation": m.generation,
            "embed_model": m.get_meta("embed_model"),
        }
        m.close()
    (target / BACKUP_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=2))
    return info


def restore(settings: Settings, source: Path) -> dict[str, Any]:
    """Replace the data dir's knowledge base by a backup; the old one is kept aside."""
    info_file = source / BACKUP_INFO
    if not info_file.is_file():
        raise ValidationError(f"{source} 不是 shegong 备份目录（缺少 {BACKUP_INFO}）。")
    info = json.loads(info_file.read_text())
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    with data_lock(data):
        kept = None
        records = source / settings.service_db_path.name
        parts = [settings.manifest_path, settings.chroma_dir, settings.lexical_dir]
        if records.is_file():
            parts.append(settings.service_db_path)
        if any(p.exists() for p in parts):
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            kept = data.parent / f"{data.name}.before-restore-{stamp}"
            kept.mkdir(parents=True)
            for p in parts:
                if p.exists():
                    shutil.move(str(p), kept / p.name)
            for name in (settings.manifest_path.name, settings.service_db_path.name):
                for wal in data.glob(name + "-*"):
                    shutil.move(str(wal), kept / wal.name)
        shutil.copy2(source / settings.manifest_path.name, settings.manifest_path)
        if records.is_file():
            shutil.copy2(records, settings.service_db_path)
        if (source / "chroma").is_dir():
            shutil.copytree(source / "chroma", settings.chroma_dir)
        if (source / "lexical").is_dir():
            shutil.copytree(source / "lexical", settings.lexical_dir)
    return {**info, "previous_data_kept_in": str(kept) if kept else None}
