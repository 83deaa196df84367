"""Trainers' curation of the knowledge base: upload, edit metadata, replace, delete, restore.

Every change goes through the same :class:`~ingest.pipeline.Ingestor` (and so the same parsing
sandbox, limits and cleaning) as the CLI. Decisions that must outlive a later re-ingest of the
source folders (an edit, a replacement, a deletion) are kept in the manifest's ``curation`` table;
the files that a replacement or deletion displaced are kept under ``DATA_DIR/library/versions``
so they can be restored. The repository's ``knowledge/`` folder is never written to.

>>> curator.upload("新政策.pdf", data, {"doc_type": "政策"}, by="trainer1")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from app.core.errors import IngestError, NotFoundError, ValidationError
from app.core.settings import Settings
from app.service.audit_actions import Action
from app.service.db import ServiceDB, now_iso
from app.service.records import AuditLog
from app.service.tables import doc_versions
from ingest import metadata as md
from ingest.loaders import SUFFIXES
from ingest.pipeline import FileResult, Ingestor

UPLOAD_PREFIX = "upload/"
_UNSAFE = re.compile(r"[^\w.\-（）()【】]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """A file name with no directory part and no characters that could escape the library folder."""
    base = Path(name.replace("\\", "/")).name.strip()
    base = _UNSAFE.sub("_", base).lstrip(".")
    if not base or base in (".", ".."):
        raise ValidationError("文件名无效。")
    return base[:120]


class Curator:
    """Curation operations over one data dir; one at a time (they take the writers' lock)."""

    def __init__(self, settings: Settings, ingestor: Ingestor, db: ServiceDB, audit: AuditLog) -> None:
        self.settings = settings
        self.ingestor = ingestor
        self.manifest = ingestor.manifest
        self.db = db
        self.audit = audit
        self._lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------------
    def documents(self) -> list[dict[str, Any]]:
        """Every document in the knowledge base, and the deleted ones that can be restored."""
        curation = {c.doc_id: c for c in self.manifest.curations()}
        out = []
        for rec in self.manifest.documents():
            c = curation.get(rec.doc_id)
            out.append({
                "doc_id": rec.doc_id, **rec.meta.to_dict(), "chunks": rec.n_chunks, "version": rec.version,
                "updated_at": rec.updated_at, "origin": "上传" if rec.doc_id.startswith(UPLOAD_PREFIX) or (
                    c and c.pinned_source) else "默认知识库/导入", "edited": bool(c and c.meta), "deleted": False,
            })
        for c in curation.values():
            if c.deleted:
                out.append({"doc_id": c.doc_id, "title": c.meta.get("title") or c.doc_id, "deleted": True,
                            "updated_at": c.updated_at, "deleted_by": c.updated_by, "chunks": 0})
        return out

    def document(self, doc_id: str) -> dict[str, Any]:
        """Metadata, how the document was cleaned and split, and its kept earlier versions."""
        rec = self.manifest.document(doc_id)
        if rec is None:
            raise NotFoundError(f"知识库中没有文档“{doc_id}”。")
        chunks: list[dict[str, Any]] = [
            {"chunk_id": c.chunk_id, "position": c.position, "heading": c.heading, "text": c.text, "chars": len(c.text)}
            for c in self.manifest.chunks(self.manifest.chunk_ids_of(doc_id))
        ]
        chunks.sort(key=lambda c: int(c["position"]))
        cur = self.manifest.curation(doc_id)
        return {
            "doc_id": doc_id, "meta": rec.meta.to_dict(), "version": rec.version, "source": Path(rec.source_path).name,
            "cleaned": rec.cleaned, "pii_masked": rec.pii_masked, "updated_at": rec.updated_at,
            "edits": cur.meta if cur else {}, "chunks": chunks, "versions": self.versions(doc_id),
        }

    def versions(self, doc_id: str) -> list[dict[str, Any]]:
        v = doc_versions.c
        q = select(v.id, v.doc_id, v.stored_path, v.reason, v.by, v.at).where(v.doc_id == doc_id).order_by(v.id.desc())
        with self.db.read() as conn:
            return [{**dict(r), "file": Path(r["stored_path"]).name} for r in conn.execute(q).mappings()]

    # -- changing -----------------------------------------------------------------------------
    def upload(self, filename: str, data: bytes, meta: dict[str, Any], *, by: str) -> dict[str, Any]:
        """A new document from an uploaded file; its id is ``upload/<file name>``."""
        name = self._check_upload(filename, data)
        doc_id = UPLOAD_PREFIX + name
        fields = self._fields(meta)
        with self._lock:
            if self.manifest.document(doc_id) is not None:
                raise ValidationError(f"已有同名上传文档“{doc_id}”。要更新它，请使用“替换”。")
            path = self._store(name, data)
            before = self.manifest.curation(doc_id)
            self.manifest.set_curation(doc_id, by=by, meta=fields, pinned_source=str(path.resolve()), deleted=False)
            result = self._ingest(path, doc_id)
            if result.status == "failed":
                path.unlink(missing_ok=True)
                self._undo_curation(doc_id, before, by)
            else:
                self.audit.record(by, Action.UPLOAD, doc_id, {"file": name, "chunks": result.chunks, **fields})
        return _outcome(result)

    def replace(self, doc_id: str, filename: str, data: bytes, *, by: str) -> dict[str, Any]:
        """A new file for an existing document; the old file is kept as a version."""
        name = self._check_upload(filename, data)
        with self._lock:
            rec = self._record(doc_id)
            before = self.manifest.curation(doc_id)
            path = self._store(name, data)
            self.manifest.set_curation(doc_id, by=by, pinned_source=str(path.resolve()), deleted=False)
            result = self._ingest(path, doc_id, root=rec.source_root)
            if result.status == "failed":
                path.unlink(missing_ok=True)
                self._undo_curation(doc_id, before, by)
            else:
                self._keep_version(doc_id, Path(rec.source_path), rec.meta.to_dict(), "replaced", by)
                self.audit.record(by, Action.REPLACE, doc_id, {"file": name, "old": Path(rec.source_path).name,
                                                              "chunks": result.chunks})
        return _outcome(result)

    def edit(self, doc_id: str, meta: dict[str, Any], *, by: str) -> dict[str, Any]:
        """Change metadata (type, issuer, region, dates, title ...); kept across re-ingests."""
        fields = self._fields(meta)
        if not fields:
            raise ValidationError("没有要修改的字段。")
        with self._lock:
            rec = self._record(doc_id)
            before = self.manifest.curation(doc_id)
            merged = {**(before.meta if before else {}), **fields}
            md.merge(rec.meta.to_dict(), merged)  # the combination must be valid too
            md.validate({**rec.meta.to_dict(), **merged}, known_regions=self.ingestor.known_regions)
            source = Path(rec.source_path)
            if not source.is_file():
                raise ValidationError(f"文档的来源文件 {source.name} 已不存在，无法重新导入；请用“替换”上传新文件。")
            self.manifest.set_curation(doc_id, by=by, meta=merged)
            result = self._ingest(source, doc_id, root=rec.source_root)
            if result.status == "failed":
                self._undo_curation(doc_id, before, by)
            else:
                old = {k: rec.meta.to_dict().get(k) for k in fields}
                self.audit.record(by, Action.EDIT, doc_id, {"from": old, "to": fields})
        return _outcome(result)

    def delete(self, doc_id: str, *, by: str) -> dict[str, Any]:
        """Remove a document from answers; its file is kept and it can be restored."""
        with self._lock:
            rec = self._record(doc_id)
            version = self._keep_version(doc_id, Path(rec.source_path), rec.meta.to_dict(), "deleted", by)
            meta = {**(c.meta if (c := self.manifest.curation(doc_id)) else {}), "title": rec.meta.title}
            self.manifest.set_curation(doc_id, by=by, meta=meta, deleted=True)
            self.ingestor.remove(doc_id)
            self.audit.record(by, Action.DELETE, doc_id, {"title": rec.meta.title, "kept_version": version})
        return {"doc_id": doc_id, "status": "removed", "kept_version": version}

    def restore(self, version_id: int, *, by: str) -> dict[str, Any]:
        """Bring back a kept version of a document (after a replacement or a deletion)."""
        with self.db.read() as conn:
            row = conn.execute(select(doc_versions).where(doc_versions.c.id == version_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"没有保存的版本 {version_id}。")
        stored = Path(row["stored_path"])
        if not stored.is_file():
            raise NotFoundError(f"保存的版本文件 {stored.name} 已不存在。")
        doc_id = row["doc_id"]
        with self._lock:
            rec = self.manifest.document(doc_id)
            before = self.manifest.curation(doc_id)
            path = self._store(stored.name.split("-", 1)[-1], stored.read_bytes())
            self.manifest.set_curation(doc_id, by=by, pinned_source=str(path.resolve()), deleted=False)
            result = self._ingest(path, doc_id, root=rec.source_root if rec else None)
            if result.status == "failed":
                path.unlink(missing_ok=True)
                self._undo_curation(doc_id, before, by)
            else:
                if rec is not None:
                    self._keep_version(doc_id, Path(rec.source_path), rec.meta.to_dict(), "replaced-by-restore", by)
                self.audit.record(by, Action.RESTORE, doc_id, {"version": version_id, "file": path.name})
        return _outcome(result)

    # -- helpers ------------------------------------------------------------------------------
    def _check_upload(self, filename: str, data: bytes) -> str:
        name = safe_filename(filename)
        suffix = Path(name).suffix.lower()
        allowed = [s for s in SUFFIXES if s != ".jsonl"]
        if suffix not in allowed:
            raise ValidationError(f"不支持的文件类型 {suffix or '（无扩展名）'}；可上传：{'、'.join(allowed)}。")
        if not data:
            raise ValidationError(f"文件 {name} 是空的（0 字节）。")
        limit = min(self.settings.max_upload_mb, self.settings.max_file_mb)
        if len(data) > limit * 1024 * 1024:
            raise ValidationError(f"文件 {name} 过大：{len(data) / 1048576:.1f} MB，上限为 {limit:g} MB。")
        return name

    def _fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        allowed = {"title", "doc_type", "issuer", "region", "published", "effective_from", "effective_to",
                   "replaced_by", "source"}
        unknown = sorted(set(meta) - allowed)
        if unknown:
            raise ValidationError(f"不能修改的字段：{'、'.join(unknown)}。可改：{'、'.join(sorted(allowed))}。")
        given = {k: v for k, v in meta.items() if v not in (None, "")}
        return md.validate(given, known_regions=self.ingestor.known_regions)

    def _store(self, name: str, data: bytes) -> Path:
        folder = self.settings.library_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def _record(self, doc_id: str):  # type: ignore[no-untyped-def]
        rec = self.manifest.document(doc_id)
        if rec is None:
            raise NotFoundError(f"知识库中没有文档“{doc_id}”。")
        return rec

    def _ingest(self, path: Path, doc_id: str, root: str | None = None) -> FileResult:
        try:
            report = self.ingestor.ingest([path], doc_id=doc_id, root=root or str(self.settings.library_dir.resolve()))
        except IngestError as exc:
            return FileResult(str(path), doc_id, "failed", error=str(exc))
        return next((f for f in report.files if f.doc_id == doc_id or f.status == "failed"), report.files[0])

    def _undo_curation(self, doc_id: str, before: Any, by: str) -> None:
        if before is None:
            self.manifest.delete_curation(doc_id)
        else:
            self.manifest.set_curation(doc_id, by=before.updated_by or by, meta=before.meta,
                                       pinned_source=before.pinned_source, deleted=before.deleted)

    def _keep_version(self, doc_id: str, source: Path, meta: dict[str, Any], reason: str, by: str) -> int | None:
        if not source.is_file():
            return None
        folder = self.settings.library_dir / "versions"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uuid.uuid4().hex[:8]}-{source.name}"
        shutil.copy2(source, target)
        with self.db.tx() as conn:
            vid = conn.execute(insert(doc_versions).values(
                doc_id=doc_id, stored_path=str(target), meta_json=json.dumps(meta, ensure_ascii=False), reason=reason,
                by=by, at=now_iso()).returning(doc_versions.c.id)).scalar_one()
        return int(vid)


def _outcome(result: FileResult) -> dict[str, Any]:
    return {"doc_id": result.doc_id, "status": result.status, "chunks": result.chunks, "error": result.error,
            "cleaned": result.cleaned, "pii_masked": result.pii_masked}
