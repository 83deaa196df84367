"""The ingest pipeline: file -> loader -> cleaner -> splitter -> Chunk[] -> embedder -> Chroma
(+ lexical index, + manifest).

Order of writes, for crash safety: embeddings are cached in the manifest as they are computed;
then, per document, Chroma gets the new chunks and loses the stale ones, and only then the
manifest commits the document. :meth:`Ingestor.reconcile` (run before every ingest) makes Chroma
match the manifest again, so an ingest killed at any point and run again ends in the same store
as an uninterrupted run.

>>> ing = Ingestor(settings, embedder, store, manifest)        # doctest: +SKIP
>>> ing.ingest([Path("knowledge")]).added                       # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from app.core.embedder import Embedder
from app.core.errors import IngestError, ShegongError, ValidationError
from app.core.index import KnowledgeIndex
from app.core.lexical import LexicalIndex
from app.core.manifest import DocRecord, Manifest, embed_key, now
from app.core.sentences import sentence_texts
from app.core.settings import Settings
from app.core.store import ChromaStore
from app.core.types import Chunk, DocMeta
from ingest import metadata as md
from ingest.cleaners import CLEANER_VERSION, clean
from ingest.loaders import SUFFIXES, RawDoc
from ingest.sandbox import load_sandboxed
from ingest.splitter import SPLITTER_VERSION, split_text

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_SKIP_SUFFIXES = (".yaml", ".yml")
# Bump when what counts as a candidate sentence changes (app/rag/answerer.py sentences_of), so the
# next ingest embeds the new sentences.
SENTENCES_VERSION = "2"  # 2: each sentence also in its title and heading


@dataclass
class FileResult:
    """What happened to one document (a JSONL file gives one per line)."""

    path: str
    doc_id: str | None
    status: str  # added | updated | unchanged | skipped | removed | failed
    chunks: int = 0
    cleaned: dict[str, int] = field(default_factory=dict)
    pii_masked: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # a trainer deleted the document or pinned it to another source
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        return d


@dataclass
class _Pending:
    """A document parsed, cleaned and split, waiting for its vectors."""

    record: DocRecord
    text: str
    chunks: list[Chunk]
    result: FileResult


WRITER_WAIT_S = 60.0  # how long a second writer waits for another node's before it is told so
_WRITER_KEY = 0x5E6F_0001  # the advisory lock's key: one knowledge-base writer per database


@contextmanager
def data_lock(data_dir: Path, engine: Engine | None = None, *, wait_s: float = WRITER_WAIT_S) -> Iterator[None]:
    """One writer at a time on a data dir (ingest, remove, restore, backup); with ``engine`` on
    PostgreSQL (the manifest shared by several nodes) also one writer across every node, by a
    session advisory lock. A second node's writer waits up to ``wait_s`` seconds, then gets a
    Chinese error saying another node is writing; the lock goes with the connection if a node dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / ".write.lock", "w")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another writer on %s", data_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        if engine is None or engine.dialect.name != "postgresql":
            yield
            return
        with engine.connect() as conn:
            deadline = time.monotonic() + wait_s
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_WRITER_KEY})").scalar_one():
                conn.rollback()
                if time.monotonic() > deadline:
                    raise IngestError("另一个节点正在写知识库（导入、删除或恢复），请等它完成后再试。")
                log.info("waiting for another node's knowledge-base writer")
                time.sleep(0.5)
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_WRITER_KEY})")
                conn.commit()
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _fingerprint(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\x1f")
    return h.hexdigest()


class Ingestor:
    """Runs the pipeline against one data dir's manifest, vector store and lexical index."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: ChromaStore,
        manifest: Manifest,
        *,
        known_regions: set[str] | None = None,
        sentence_vectors: bool = True,
    ) -> None:
        self.settings = settings
        # False: leave the selector's sentence vectors to be embedded when first scored (a large
        # training corpus of which only the retrieved passages are ever read)
        self.sentence_vectors = sentence_vectors
        self.embedder = embedder
        self.store = store
        self.manifest = manifest
        self.index = KnowledgeIndex(manifest, store, settings.lexical_dir)
        self.known_regions = known_regions

    # ------------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path],
        *,
        sync: bool = False,
        overrides: dict[str, Any] | None = None,
        keep_pii: bool | None = None,
        progress: Progress | None = None,
        doc_id: str | None = None,
        root: str | None = None,
    ) -> IngestReport:
        """Ingest files and folders; never deletes anything unless ``sync`` (per folder given).

        ``doc_id`` and ``root`` name the document a single file defines and the folder it belongs
        to (curation re-ingests a known document from its source, or an upload under its id)."""
        if doc_id is not None and (len(paths) != 1 or not Path(paths[0]).is_file()):
            raise ValidationError("指定 doc_id 时只能导入一个文件。")
        forced_id = doc_id
        t0 = time.perf_counter()
        keep_pii = self.settings.keep_pii if keep_pii is None else keep_pii
        overrides = md.validate(overrides or {}, known_regions=self.known_regions)
        report = IngestReport()
        with data_lock(self.settings.data_dir, self.manifest.engine):
            self.reconcile()
            pending: list[_Pending] = []
            claimed: dict[str, str] = {}  # doc_id -> the file that gave it in this run
            seen_by_root: dict[str, set[str]] = {}
            for path in paths:
                path = Path(path)
                if not path.exists():
                    report.failed.append({"path": str(path), "error": "路径不存在。"})
                    report.files.append(FileResult(str(path), None, "failed", error="路径不存在。"))
                    continue
                base = path.resolve() if path.is_dir() else path.resolve().parent
                seen = seen_by_root.setdefault(str(base), set()) if path.is_dir() else set()
                files = [(path, forced_id)] if forced_id is not None else self._files(path)
                for file, doc_id_default in files:
                    for item in self._prepare(file, doc_id_default, root or str(base), overrides, keep_pii,
                                              forced_id=forced_id):
                        doc_id = item.doc_id if isinstance(item, FileResult) else item.record.doc_id
                        if doc_id and doc_id in claimed:
                            item = FileResult(str(file), doc_id, "failed",
                                              error=f"doc_id“{doc_id}”与 {claimed[doc_id]} 重复，已跳过。")
                        elif doc_id:
                            claimed[doc_id] = str(file)
                        if isinstance(item, FileResult):
                            report.files.append(item)
                            if item.status == "failed":
                                report.failed.append({"path": item.path, "error": item.error or ""})
                            elif item.status == "skipped":
                                report.skipped += 1
                            else:
                                report.unchanged += 1
                            if item.doc_id:
                                seen.add(item.doc_id)
                        else:
                            pending.append(item)
                            seen.add(item.record.doc_id)
            report.chunks_embedded = self._embed_pending(pending, progress)
            if self.sentence_vectors:
                self._embed_sentences(pending)
            for group in _groups(pending, max_chunks=1000):
                self._commit(group)
            for p in pending:
                report.files.append(p.result)
                if p.result.status == "added":
                    report.added += 1
                else:
                    report.updated += 1
            if sync:
                for folder in (str(Path(p).resolve()) for p in paths if Path(p).is_dir()):
                    gone = self.manifest.doc_ids_from_root(folder) - seen_by_root.get(folder, set())
                    for doc_id in sorted(gone):
                        self._remove(doc_id)
                        report.removed += 1
                        report.files.append(FileResult(folder, doc_id, "removed"))
            self.refresh_lexical()
        report.seconds = time.perf_counter() - t0
        return report

    def remove(self, doc_id: str) -> bool:
        with data_lock(self.settings.data_dir, self.manifest.engine):
            removed = self._remove(doc_id)
            self.refresh_lexical()
        return removed

    # ------------------------------------------------------------------------------------------
    def _files(self, path: Path) -> Iterator[tuple[Path, str]]:
        if path.is_file():
            yield path, path.name
            return
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if not file.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            if file.name.endswith(".meta.yaml") or file.suffix.lower() in _SKIP_SUFFIXES:
                continue
            yield file, rel.as_posix()

    def _prepare(
        self, file: Path, doc_id_default: str, root: str, overrides: dict[str, Any], keep_pii: bool,
        forced_id: str | None = None,
    ) -> Iterator[_Pending | FileResult]:
        """Load, clean and split one file; yields a FileResult for unchanged or failed documents."""
        try:
            if file.suffix.lower() not in SUFFIXES:
                raise IngestError(f"不支持的文件类型 {file.suffix or '（无扩展名）'}；支持：{'、'.join(SUFFIXES)}。")
            size = file.stat().st_size
            if size > self.settings.max_file_bytes:
                raise IngestError(
                    f"文件过大：{size / 1048576:.1f} MB，上限为 {self.settings.max_file_mb:g} MB。"
                )
            if size == 0:
                raise IngestError("文件是空的（0 字节）。")
            sidecar_raw = md.read_sidecar(file)
            sidecar = md.validate(sidecar_raw, known_regions=self.known_regions)
            sidecar_id = sidecar_raw.get("doc_id")
            raws = load_sandboxed(
                file, timeout_s=self.settings.parse_timeout_s, memory_mb=self.settings.parse_memory_mb
            )
        except ShegongError as exc:
            yield FileResult(str(file), None, "failed", error=str(exc))
            return
        for raw in raws:
            try:
                yield self._prepare_doc(file, raw, forced_id or doc_id_default, sidecar_id if not forced_id else None,
                                        root, sidecar, overrides, keep_pii, forced=forced_id is not None)
            except ShegongError as exc:
                yield FileResult(str(file), raw.doc_id or doc_id_default, "failed", error=str(exc))

    def _prepare_doc(
        self,
        file: Path,
        raw: RawDoc,
        doc_id_default: str,
        sidecar_id: object,
        root: str,
        sidecar: dict[str, Any],
        overrides: dict[str, Any],
        keep_pii: bool,
        forced: bool = False,
    ) -> _Pending | FileResult:
        front, body = md.split_front_matter(raw.text) if file.suffix.lower() in (".md", ".markdown") else ({}, raw.text)
        front_meta = md.validate(front, known_regions=self.known_regions)
        raw_meta = md.validate(raw.meta, known_regions=self.known_regions) if raw.meta else {}
        doc_id = doc_id_default if forced else str(raw.doc_id or front.get("doc_id") or sidecar_id or doc_id_default)
        curation = self.manifest.curation(doc_id)
        if curation is not None:
            why = curation.suppresses(file)
            if why:
                return FileResult(str(file), doc_id, "skipped", error=why)
        edits = md.validate(curation.meta, known_regions=self.known_regions) if curation else {}
        params = {
            "cleaner": CLEANER_VERSION,
            "splitter": SPLITTER_VERSION,
            "size": self.settings.chunk_size,
            "overlap": self.settings.chunk_overlap,
            "pii": keep_pii,
        }
        fingerprint = _fingerprint(body, raw.title, raw_meta, front_meta, sidecar, overrides, edits, params, doc_id)
        old = self.manifest.document(doc_id)
        if old is not None and old.fingerprint == fingerprint:
            return FileResult(str(file), doc_id, "unchanged", old.n_chunks, old.cleaned, old.pii_masked)
        cleaned = clean(body, mask=not keep_pii)
        if not cleaned.text.strip():
            raise IngestError("清洗后没有剩下任何正文（文件可能只有网站模板、页码或空白）。")
        text_meta: dict[str, Any] = {
            "title": raw.title or md.extract_title(cleaned.text, Path(doc_id).stem),
            "published": md.extract_date(body),
            "source": str(file),
        }
        meta = md.merge(text_meta, raw_meta, front_meta, sidecar, overrides, edits)
        chunks = split_text(
            cleaned.text,
            doc_id=doc_id,
            title=meta.title,
            size=self.settings.chunk_size,
            overlap=self.settings.chunk_overlap,
            meta=meta,
        )
        if not chunks:
            raise IngestError("切分后没有任何段落。")
        counts = {k: v for k, v in cleaned.counts.items() if k != "pii"}
        pii = cleaned.counts.get("pii", 0)
        stamp = now()
        record = DocRecord(
            doc_id=doc_id,
            source_path=str(file),
            source_root=root,
            fingerprint=fingerprint,
            version=(old.version + 1) if old else 1,
            meta=meta,
            n_chunks=len(chunks),
            cleaned=counts,
            pii_masked=pii,
            ingested_at=old.ingested_at if old else stamp,
            updated_at=stamp,
        )
        result = FileResult(str(file), doc_id, "updated" if old else "added", len(chunks), counts, pii)
        return _Pending(record, cleaned.text, chunks, result)

    # ------------------------------------------------------------------------------------------
    def _embed_pending(self, pending: Sequence[_Pending], progress: Progress | None) -> int:
        chunks = [c for p in pending for c in p.chunks]
        return len(self.vectors_for(chunks, progress=progress, only_missing=True))

    def vectors_for(
        self, chunks: Sequence[Chunk], *, progress: Progress | None = None, only_missing: bool = False
    ) -> dict[str, np.ndarray]:
        """Vectors by embed key, from the cache or freshly embedded (sorted by length, batched,
        and cached batch by batch so that a killed ingest keeps what it had embedded)."""
        return self._vectors([c.embed_text for c in chunks], progress=progress, only_missing=only_missing)

    def _vectors(
        self, texts: Sequence[str], *, progress: Progress | None = None, only_missing: bool = False
    ) -> dict[str, np.ndarray]:
        model = self.embedder.model_id
        keys = {embed_key(model, t): t for t in texts}
        cached = self.manifest.cached_vectors(list(keys))
        todo = sorted((k for k in keys if k not in cached), key=lambda k: len(keys[k]))
        fresh: dict[str, np.ndarray] = {}
        bs = self.settings.embed_batch_size
        step = bs * 4  # cache every few batches
        for i in range(0, len(todo), step):
            part = todo[i : i + step]
            vecs = self.embedder.embed_passages([keys[k] for k in part])
            self.manifest.cache_vectors(zip(part, vecs, strict=True))
            fresh.update(zip(part, vecs, strict=True))
            if progress:
                progress(min(i + step, len(todo)), len(todo))
        return fresh if only_missing else {**cached, **fresh}

    def _embed_sentences(self, pending: Sequence[_Pending]) -> int:
        """Vectors of the sentences the answer selector scores, cached by content hash so that a
        question embeds only itself. A store written before sentence vectors existed (or with
        another model or sentence split) is filled in whole once."""
        stamp = f"{self.embedder.model_id}:{SENTENCES_VERSION}"
        backfill = self.manifest.get_meta("sentence_vectors") != stamp
        chunks = [c for p in pending for c in p.chunks]
        if backfill:
            chunks += list(self.manifest.chunks())
        n = len(self._vectors(sentence_texts((c.title, c.heading, c.text) for c in chunks), only_missing=True))
        if backfill:
            self.manifest.set_meta("sentence_vectors", stamp)
        return n

    def _commit(self, group: Sequence[_Pending]) -> None:
        self.index.commit(((p.record, p.text, p.chunks, p.result.status == "updated") for p in group),
                          self.embedder.model_id)

    def _remove(self, doc_id: str) -> bool:
        return self.index.remove(doc_id)

    def reconcile(self) -> dict[str, int]:
        """Make Chroma hold exactly the manifest's chunks (after a crash or a model change)."""
        return self.index.reconcile(self.embedder.model_id, self.vectors_for)

    def refresh_lexical(self) -> LexicalIndex:
        """The BM25 index of the manifest's current generation, rebuilt and saved when stale."""
        return self.index.lexical()


def _groups(pending: Sequence[_Pending], max_chunks: int) -> Iterator[list[_Pending]]:
    group: list[_Pending] = []
    size = 0
    for p in pending:
        if group and size + len(p.chunks) > max_chunks:
            yield group
            group, size = [], 0
        group.append(p)
        size += len(p.chunks)
    if group:
        yield group


def metadata_overrides(**flags: object) -> dict[str, Any]:
    """CLI flags -> metadata layer (only the flags that were given)."""
    return {k: v for k, v in flags.items() if v not in (None, "")}


def check_writable(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".probe-{os.getpid()}"
    try:
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValidationError(f"数据目录 {path} 不可写：{exc}") from exc


__all__ = ["DocMeta", "FileResult", "IngestReport", "Ingestor", "data_lock", "metadata_overrides"]
