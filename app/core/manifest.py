"""The manifest: a SQLite file that is the source of truth for what the knowledge base holds.

It records each document (fingerprint, version, metadata, what cleaning changed), each chunk (text,
heading, position) and caches embeddings by the hash of the embedded text. The Chroma store and the
lexical index are derived from it: ingest writes Chroma first and commits the manifest last, and
:meth:`ingest.pipeline.Ingestor.reconcile` repairs Chroma from the manifest after a crash.

>>> m = Manifest(Path("/tmp/demo.sqlite3"))     # doctest: +SKIP
>>> m.document("policies/x")                    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.types import Chunk, DocMeta

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    source_root TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    version INTEGER NOT NULL,
    meta_json TEXT NOT NULL,
    text TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    cleaned_json TEXT NOT NULL,
    pii_masked INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL,
    start INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, position);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
-- Trainers' decisions that outlive any re-ingest of the source folders: metadata edits, a document
-- pinned to an uploaded replacement, a deleted document that ingest must not bring back.
CREATE TABLE IF NOT EXISTS curation (
    doc_id TEXT PRIMARY KEY,
    meta_json TEXT NOT NULL DEFAULT '{}',
    pinned_source TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);
"""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def embed_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()


@dataclass
class Curation:
    """A trainer's standing decision about one document (see the ``curation`` table)."""

    doc_id: str
    meta: dict[str, Any]
    pinned_source: str | None
    deleted: bool
    updated_at: str
    updated_by: str

    def suppresses(self, file: Path) -> str | None:
        """Why ``file`` must not (re)define this document, or None when it may."""
        if self.deleted:
            return "该文档已被培训员删除，未重新导入（可在管理页恢复）。"
        if self.pinned_source and str(file.resolve()) != self.pinned_source:
            return f"该文档已被上传的新版本替换（{Path(self.pinned_source).name}），此来源已忽略。"
        return None


@dataclass
class DocRecord:
    """One row of ``documents``."""

    doc_id: str
    source_path: str
    source_root: str
    fingerprint: str
    version: int
    meta: DocMeta
    n_chunks: int
    cleaned: dict[str, int]
    pii_masked: int
    ingested_at: str
    updated_at: str
    text: str = ""


class Manifest:
    """SQLite manifest; one connection per instance, WAL mode, foreign keys on."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Bumped by every change to documents or chunks; derived indexes compare against it."""
        return int(self.get_meta("generation", "0") or 0)

    # -- documents ----------------------------------------------------------------------------
    def _row_to_doc(self, row: sqlite3.Row | tuple[Any, ...], with_text: bool = False) -> DocRecord:
        (doc_id, source_path, source_root, fingerprint, version, meta_json, text, n_chunks, cleaned_json,
         pii, ingested_at, updated_at) = row
        return DocRecord(
            doc_id=doc_id,
            source_path=source_path,
            source_root=source_root,
            fingerprint=fingerprint,
            version=version,
            meta=DocMeta(**json.loads(meta_json)),
            n_chunks=n_chunks,
            cleaned=json.loads(cleaned_json),
            pii_masked=pii,
            ingested_at=ingested_at,
            updated_at=updated_at,
            text=text if with_text else "",
        )

    _DOC_COLS = (
        "doc_id, source_path, source_root, fingerprint, version, meta_json, text, n_chunks, cleaned_json, "
        "pii_masked, ingested_at, updated_at"
    )

    def document(self, doc_id: str, *, with_text: bool = False) -> DocRecord | None:
        row = self._db.execute(f"SELECT {self._DOC_COLS} FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return self._row_to_doc(row, with_text) if row else None

    def documents(self) -> list[DocRecord]:
        rows = self._db.execute(f"SELECT {self._DOC_COLS} FROM documents ORDER BY doc_id").fetchall()
        return [self._row_to_doc(r) for r in rows]

    def doc_ids_from_root(self, root: str) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT doc_id FROM documents WHERE source_root=?", (root,))}

    def put_document(
        self,
        record: DocRecord,
        text: str,
        chunks: Sequence[Chunk],
    ) -> None:
        """Replace a document and exactly its chunks, in one transaction."""
        with self._tx():
            self._db.execute("DELETE FROM chunks WHERE doc_id=?", (record.doc_id,))
            self._db.execute(
                f"INSERT OR REPLACE INTO documents({self._DOC_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.doc_id, record.source_path, record.source_root, record.fingerprint, record.version,
                    json.dumps(record.meta.to_dict(), ensure_ascii=False), text, len(chunks),
                    json.dumps(record.cleaned, ensure_ascii=False), record.pii_masked, record.ingested_at,
                    record.updated_at,
                ),
            )
            self._db.executemany(
                "INSERT INTO chunks(chunk_id, doc_id, position, text, heading, start) VALUES (?,?,?,?,?,?)",
                [(c.chunk_id, c.doc_id, c.position, c.text, c.heading, c.start) for c in chunks],
            )
            self._bump()

    def delete_document(self, doc_id: str) -> bool:
        with self._tx():
            cur = self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
            self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
            if cur.rowcount:
                self._bump()
        return cur.rowcount > 0

    def _bump(self) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # -- chunks -------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT chunk_id FROM chunks")}

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT chunk_id FROM chunks WHERE doc_id=? ORDER BY position",
                                                (doc_id,))]

    def chunks(self, ids: Iterable[str] | None = None) -> Iterator[Chunk]:
        """Chunks with their document's metadata, in document order (or only ``ids``)."""
        sql = (
            "SELECT c.chunk_id, c.doc_id, c.position, c.text, c.heading, c.start, d.meta_json "
            "FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
        )
        if ids is None:
            rows: Iterable[tuple[Any, ...]] = self._db.execute(sql + " ORDER BY c.doc_id, c.position")
        else:
            id_list = list(ids)
            rows = []
            for i in range(0, len(id_list), 500):
                part = id_list[i : i + 500]
                rows.extend(self._db.execute(sql + f" WHERE c.chunk_id IN ({','.join('?' * len(part))})", part))
        metas: dict[str, DocMeta] = {}
        for chunk_id, doc_id, position, text, heading, start, meta_json in rows:
            meta = metas.get(meta_json)
            if meta is None:
                meta = metas[meta_json] = DocMeta(**json.loads(meta_json))
            yield Chunk(chunk_id, doc_id, position, text, heading, meta.title, meta, start)

    def count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # -- curation ------------------------------------------------------------------------------
    def curation(self, doc_id: str) -> Curation | None:
        row = self._db.execute(
            "SELECT doc_id, meta_json, pinned_source, deleted, updated_at, updated_by FROM curation WHERE doc_id=?",
            (doc_id,),
        ).fetchone()
        if not row:
            return None
        return Curation(row[0], json.loads(row[1]), row[2], bool(row[3]), row[4], row[5])

    def curations(self) -> list[Curation]:
        rows = self._db.execute(
            "SELECT doc_id, meta_json, pinned_source, deleted, updated_at, updated_by FROM curation ORDER BY doc_id"
        ).fetchall()
        return [Curation(r[0], json.loads(r[1]), r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def set_curation(
        self,
        doc_id: str,
        *,
        by: str,
        meta: dict[str, Any] | None = None,
        pinned_source: str | bool | None = False,
        deleted: bool | None = None,
    ) -> Curation:
        """Update the given fields only (``pinned_source=False`` leaves it as it is)."""
        cur = self.curation(doc_id) or Curation(doc_id, {}, None, False, now(), by)
        if meta is not None:
            cur.meta = meta
        if pinned_source is not False:
            cur.pinned_source = pinned_source or None  # type: ignore[assignment]
        if deleted is not None:
            cur.deleted = deleted
        cur.updated_at, cur.updated_by = now(), by
        self._db.execute(
            "INSERT OR REPLACE INTO curation(doc_id, meta_json, pinned_source, deleted, updated_at, updated_by) "
            "VALUES (?,?,?,?,?,?)",
            (doc_id, json.dumps(cur.meta, ensure_ascii=False), cur.pinned_source, int(cur.deleted), cur.updated_at,
             by),
        )
        return cur

    def delete_curation(self, doc_id: str) -> None:
        self._db.execute("DELETE FROM curation WHERE doc_id=?", (doc_id,))

    # -- embedding cache ----------------------------------------------------------------------
    def cached_vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            q = f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(part))})"
            for key, blob in self._db.execute(q, part):
                out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def cache_vectors(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with self._tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings(key, vector) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )

    # -- helpers ------------------------------------------------------------------------------
    def _tx(self) -> _Tx:
        return _Tx(self._db)

    def backup_to(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup API."""
        dst = sqlite3.connect(target)
        try:
            self._db.backup(dst)
        finally:
            dst.close()


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
