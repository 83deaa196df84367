"""The manifest: the record of what the knowledge base holds, its source of truth.

It records each document (fingerprint, version, metadata, what cleaning changed), each chunk (text,
heading, position), trainers' standing decisions (curation) and caches embeddings by the hash of
the embedded text. The Chroma store and the lexical index are derived from it: ingest writes Chroma
first and commits the manifest last (``app/core/index.py``), and a node that finds its Chroma
behind the manifest restores it from here.

A SQLite file in the data dir by default; with ``SHEGONG_DATABASE_URL`` the tables live in that
PostgreSQL database beside the records, so that every node reads one manifest. Its schema history
is ``app/core/migrations`` (version table ``manifest_version``).

>>> m = Manifest(Path("/tmp/demo.sqlite3"))     # doctest: +SKIP
>>> m.document("policies/x")                    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    select,
)

from app.core.database import History, describe, dialect_insert, make_engine, sqlite_url, upgrade, upsert, writing
from app.core.errors import ValidationError
from app.core.types import Chunk, DocMeta

metadata = MetaData()

meta_table = Table("meta", metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
documents = Table(
    "documents", metadata,
    Column("doc_id", Text, primary_key=True),
    Column("source_path", Text, nullable=False),
    Column("source_root", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("n_chunks", Integer, nullable=False),
    Column("cleaned_json", Text, nullable=False),
    Column("pii_masked", Integer, nullable=False),
    Column("ingested_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)
chunks_table = Table(
    "chunks", metadata,
    Column("chunk_id", Text, primary_key=True),
    Column("doc_id", Text, ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("heading", Text, nullable=False),
    Column("start", Integer, nullable=False),
    Index("chunks_doc", "doc_id", "position"),
)
embeddings = Table("embeddings", metadata, Column("key", Text, primary_key=True),
                   Column("vector", LargeBinary, nullable=False))
# Trainers' decisions that outlive any re-ingest of the source folders: metadata edits, a document
# pinned to an uploaded replacement, a deleted document that ingest must not bring back.
curation = Table(
    "curation", metadata,
    Column("doc_id", Text, primary_key=True),
    Column("meta_json", Text, nullable=False, server_default="{}"),
    Column("pinned_source", Text),
    Column("deleted", Integer, nullable=False, server_default="0"),
    Column("updated_at", Text, nullable=False),
    Column("updated_by", Text, nullable=False, server_default=""),
)

MANIFEST = History(
    name="shegong-manifest",
    folder=Path(__file__).resolve().parent / "migrations",
    version_table="manifest_version",
    legacy_table="documents",
    baseline="m0001",
)
_BATCH = 500  # ids per IN (...) list


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


_DOC_COLS = [c for c in documents.c if c.name != "text"]


class Manifest:
    """The manifest by URL (a ``Path`` is a SQLite file); safe to share between threads. Opening
    it upgrades its schema first, unless ``upgrade_schema=False`` (a read of another data dir's)."""

    def __init__(self, where: Path | str, *, upgrade_schema: bool = True) -> None:
        self.url = sqlite_url(where) if isinstance(where, Path) else where
        self.path = where if isinstance(where, Path) else None
        self.engine = make_engine(self.url, sqlite_synchronous="NORMAL")
        if upgrade_schema:
            upgrade(self.engine, MANIFEST)

    def __repr__(self) -> str:
        return f"Manifest({describe(self.url)})"

    def close(self) -> None:
        self.engine.dispose()

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(meta_table.c.value).where(meta_table.c.key == key)).scalar()
        return default if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(upsert(self.engine, meta_table, "key", key=key, value=value))

    @property
    def generation(self) -> int:
        """Bumped by every change to documents or chunks; derived indexes compare against it."""
        return int(self.get_meta("generation", "0") or 0)

    # -- documents ----------------------------------------------------------------------------
    @staticmethod
    def _doc(row: Any, text: str = "") -> DocRecord:
        return DocRecord(
            doc_id=row["doc_id"], source_path=row["source_path"], source_root=row["source_root"],
            fingerprint=row["fingerprint"], version=row["version"], meta=DocMeta(**json.loads(row["meta_json"])),
            n_chunks=row["n_chunks"], cleaned=json.loads(row["cleaned_json"]), pii_masked=row["pii_masked"],
            ingested_at=row["ingested_at"], updated_at=row["updated_at"], text=text,
        )

    def document(self, doc_id: str, *, with_text: bool = False) -> DocRecord | None:
        cols = [*_DOC_COLS, documents.c.text] if with_text else _DOC_COLS
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(documents.c.doc_id == doc_id)).mappings().first()
        return self._doc(row, row["text"] if with_text else "") if row else None

    def documents(self) -> list[DocRecord]:
        with self.engine.connect() as conn:
            return [self._doc(r) for r in conn.execute(select(*_DOC_COLS).order_by(documents.c.doc_id)).mappings()]

    def doc_stamps(self) -> dict[str, str]:
        """Each document's stamp: it changes whenever the document's row is rewritten with other
        content or metadata, so a reader can tell which documents changed without reading chunks."""
        d = documents.c
        q = select(d.doc_id, d.fingerprint, d.version, d.updated_at, d.meta_json, d.n_chunks)
        with self.engine.connect() as conn:
            return {r[0]: hashlib.sha1("\x1f".join(map(str, r[1:])).encode()).hexdigest() for r in conn.execute(q)}

    def doc_ids_from_root(self, root: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(documents.c.doc_id).where(documents.c.source_root == root)).scalars())

    def put_document(self, record: DocRecord, text: str, chunks: Sequence[Chunk]) -> None:
        """Replace a document and exactly its chunks, in one transaction."""
        row = {
            "doc_id": record.doc_id, "source_path": record.source_path, "source_root": record.source_root,
            "fingerprint": record.fingerprint, "version": record.version,
            "meta_json": json.dumps(record.meta.to_dict(), ensure_ascii=False), "text": text, "n_chunks": len(chunks),
            "cleaned_json": json.dumps(record.cleaned, ensure_ascii=False), "pii_masked": record.pii_masked,
            "ingested_at": record.ingested_at, "updated_at": record.updated_at,
        }
        with writing(self.engine) as conn:
            conn.execute(delete(chunks_table).where(chunks_table.c.doc_id == record.doc_id))
            conn.execute(upsert(self.engine, documents, "doc_id", **row))
            if chunks:
                conn.execute(insert(chunks_table), [
                    {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "position": c.position, "text": c.text,
                     "heading": c.heading, "start": c.start} for c in chunks])
            self._bump(conn)

    def delete_document(self, doc_id: str) -> bool:
        with writing(self.engine) as conn:
            n = conn.execute(delete(documents).where(documents.c.doc_id == doc_id)).rowcount
            conn.execute(delete(chunks_table).where(chunks_table.c.doc_id == doc_id))
            if n:
                self._bump(conn)
        return n > 0

    def _bump(self, conn: Any) -> None:
        # one statement, so that writers on two nodes never lose a bump
        stmt = dialect_insert(self.engine, meta_table).values(key="generation", value="1")
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": cast(cast(meta_table.c.value, Integer) + 1, Text)}))

    # -- chunks -------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(chunks_table.c.chunk_id)).scalars())

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        q = select(chunks_table.c.chunk_id).where(chunks_table.c.doc_id == doc_id).order_by(chunks_table.c.position)
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def chunks(self, ids: Iterable[str] | None = None, *, of_docs: Iterable[str] | None = None) -> Iterator[Chunk]:
        """Chunks with their document's metadata, in document order (or only ``ids``, or only the
        chunks of the documents ``of_docs``)."""
        c = chunks_table.c
        q = select(c.chunk_id, c.doc_id, c.position, c.text, c.heading, c.start, documents.c.meta_json).join_from(
            chunks_table, documents, documents.c.doc_id == c.doc_id)
        with self.engine.connect() as conn:
            if ids is None and of_docs is None:
                rows = list(conn.execute(q.order_by(c.doc_id, c.position)))
            else:
                column, id_list = (c.chunk_id, list(ids)) if ids is not None else (c.doc_id, sorted(of_docs or ()))
                rows = []
                for i in range(0, len(id_list), _BATCH):
                    rows.extend(conn.execute(q.where(column.in_(id_list[i : i + _BATCH])).order_by(c.doc_id, c.position)))
        metas: dict[str, DocMeta] = {}
        for chunk_id, doc_id, position, text, heading, start, meta_json in rows:
            meta = metas.get(meta_json)
            if meta is None:
                meta = metas[meta_json] = DocMeta(**json.loads(meta_json))
            yield Chunk(chunk_id, doc_id, position, text, heading, meta.title, meta, start)

    def count_chunks(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(chunks_table)).scalar_one())

    # -- curation ------------------------------------------------------------------------------
    @staticmethod
    def _curation(r: Any) -> Curation:
        return Curation(r["doc_id"], json.loads(r["meta_json"]), r["pinned_source"], bool(r["deleted"]),
                        r["updated_at"], r["updated_by"])

    def curation(self, doc_id: str) -> Curation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(curation).where(curation.c.doc_id == doc_id)).mappings().first()
        return self._curation(row) if row else None

    def curations(self) -> list[Curation]:
        with self.engine.connect() as conn:
            return [self._curation(r) for r in conn.execute(select(curation).order_by(curation.c.doc_id)).mappings()]

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
        with writing(self.engine) as conn:
            conn.execute(upsert(self.engine, curation, "doc_id", doc_id=doc_id, meta_json=json.dumps(cur.meta, ensure_ascii=False),
                                      pinned_source=cur.pinned_source, deleted=int(cur.deleted),
                                      updated_at=cur.updated_at, updated_by=by))
        return cur

    def delete_curation(self, doc_id: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(delete(curation).where(curation.c.doc_id == doc_id))

    # -- embedding cache ----------------------------------------------------------------------
    def cached_vectors(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _BATCH):
                q = select(embeddings.c.key, embeddings.c.vector).where(embeddings.c.key.in_(list(keys[i : i + _BATCH])))
                for key, blob in conn.execute(q):
                    out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def all_cached_vectors(self, batch: int = 5000) -> Iterator[list[tuple[str, np.ndarray]]]:
        """The whole embeddings cache, in batches (to seed another manifest's cache)."""
        last = ""
        while True:
            q = (select(embeddings.c.key, embeddings.c.vector).where(embeddings.c.key > last)
                 .order_by(embeddings.c.key).limit(batch))
            with self.engine.connect() as conn:
                rows = [(k, np.frombuffer(v, dtype=np.float32)) for k, v in conn.execute(q)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def cache_vectors(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [{"key": k, "vector": np.asarray(v, dtype=np.float32).tobytes()} for k, v in items]
        if not rows:
            return
        stmt = dialect_insert(self.engine, embeddings)
        with writing(self.engine) as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"vector": stmt.excluded.vector}), rows)

    # -- helpers ------------------------------------------------------------------------------
    def backup_to(self, target: Path) -> None:
        """A consistent copy of a SQLite manifest through SQLite's online backup API (a PostgreSQL
        manifest is backed up with the database, by pg_dump)."""
        if self.engine.dialect.name != "sqlite":
            raise ValidationError(f"清单在 {describe(self.url)} 中：请用数据库自己的备份工具（如 pg_dump）备份。")
        import sqlite3

        dst = sqlite3.connect(target)
        try:
            with self.engine.connect() as conn:
                conn.connection.dbapi_connection.backup(dst)  # type: ignore[union-attr]
        finally:
            dst.close()
