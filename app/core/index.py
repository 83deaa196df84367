"""The knowledge index: the manifest, the Chroma store and the BM25 index, kept in step.

The manifest is the record (documents, chunks, cached vectors); Chroma and the lexical index are
derived from it. Every write goes through this object, and it is the only place an index is rebuilt:
ingest writes documents with :meth:`commit` and :meth:`remove`, repairs Chroma with :meth:`reconcile`
after a crash or a model change, and both ingest and retrieval ask :meth:`lexical` for the BM25
index of the manifest's current generation.

>>> index = KnowledgeIndex(manifest, store, settings.lexical_dir)      # doctest: +SKIP
>>> index.lexical().generation == manifest.generation                  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from app.core.lexical import LexicalIndex
from app.core.manifest import DocRecord, Manifest, embed_key
from app.core.store import ChromaStore
from app.core.types import Chunk

log = logging.getLogger(__name__)

# (chunks) -> their passage vectors by embed_key, embedding what the manifest's cache lacks
VectorsFor = Callable[[Sequence[Chunk]], dict[str, np.ndarray]]
# the manifest's document stamps now, the documents changed since a snapshot, their current chunks
Changes = tuple[dict[str, str], set[str], list[Chunk]]


class KnowledgeIndex:
    def __init__(self, manifest: Manifest, store: ChromaStore, lexical_dir: Path) -> None:
        self.manifest = manifest
        self.store = store
        self.lexical_dir = lexical_dir

    # -- the lexical index --------------------------------------------------------------------
    def changes_since(self, stamps: Mapping[str, str]) -> Changes:
        """What changed in the manifest since a snapshot with these document ``stamps``: the
        stamps now, the documents new, rewritten or gone, and every current chunk of those."""
        now = self.manifest.doc_stamps()
        changed = {d for d, st in now.items() if stamps.get(d) != st} | (set(stamps) - set(now))
        fresh = list(self.manifest.chunks(of_docs=changed & set(now))) if changed else []
        return now, changed, fresh

    def lexical(self, *, save: bool = True, known: LexicalIndex | None = None,
                changes: Changes | None = None) -> LexicalIndex:
        """The BM25 index of the manifest as it is now: ``known`` or the saved one when it is of
        this generation; else that one with the documents changed since laid over it when they
        are few (:meth:`LexicalIndex.with_changes`); else built anew. Saved when ``save``.
        ``changes``: :meth:`changes_since` of ``known.stamps``, when the caller has read them."""
        gen = self.manifest.generation
        candidates = [known] if known is not None and known.generation == gen else [
            known, LexicalIndex.load(self.lexical_dir)]
        for idx in candidates:
            if idx is not None and idx.generation == gen and set(idx.ids) == self.manifest.chunk_ids():
                return idx
        for idx in candidates:
            if idx is not None and idx.can_change():
                assert idx.stamps is not None
                stamps, changed, fresh = changes if changes is not None and idx is known else self.changes_since(idx.stamps)
                grown = idx.with_changes(changed, [(c.chunk_id, c.doc_id, c.embed_text) for c in fresh], stamps, gen)
                if grown is not None and set(grown.ids) == self.manifest.chunk_ids():
                    if save:
                        grown.save(self.lexical_dir)
                    return grown
                break
        stamps = self.manifest.doc_stamps()
        chunks = list(self.manifest.chunks())
        idx = LexicalIndex.build([c.embed_text for c in chunks], [c.chunk_id for c in chunks], gen,
                                 docs=[c.doc_id for c in chunks], stamps=stamps)
        if save:
            idx.save(self.lexical_dir)
        return idx

    # -- writes -------------------------------------------------------------------------------
    def commit(self, documents: Iterable[tuple[DocRecord, str, Sequence[Chunk], bool]], model_id: str) -> None:
        """Write documents given as (record, cleaned text, chunks, replaces an earlier version):
        Chroma first (new chunks in, stale ones out), then each document's manifest row. A crash in
        between leaves chunks the manifest does not know, which :meth:`reconcile` removes next run.
        Every chunk's vector must be in the manifest's cache."""
        docs = list(documents)
        chunks = [c for _, _, cs, _ in docs for c in cs]
        vecs = self.manifest.cached_vectors([embed_key(model_id, c.embed_text) for c in chunks])
        self.store.upsert(chunks, np.stack([vecs[embed_key(model_id, c.embed_text)] for c in chunks]))
        stale: set[str] = set()
        for record, _, cs, replaces in docs:
            if replaces:
                old = set(self.manifest.chunk_ids_of(record.doc_id)) | self.store.ids_of_doc(record.doc_id)
                stale |= old - {c.chunk_id for c in cs}
        if stale:
            self.store.delete(sorted(stale))
        for record, text, cs, _ in docs:
            self.manifest.put_document(record, text, list(cs))

    def remove(self, doc_id: str) -> bool:
        """Take a document out of Chroma and the manifest; False when it was not there."""
        ids = set(self.manifest.chunk_ids_of(doc_id)) | self.store.ids_of_doc(doc_id)
        if ids:
            self.store.delete(sorted(ids))
        return self.manifest.delete_document(doc_id)

    def reconcile(self, model_id: str, vectors_for: VectorsFor) -> dict[str, int]:
        """Make Chroma hold exactly the manifest's chunks (after a crash or a model change)."""
        if self.store.model_mismatch:
            log.warning("embedding model changed (%s -> %s): re-embedding every chunk", self.store.stored_model_id, model_id)
            self.store.reset()
        self.manifest.set_meta("embed_model", model_id)
        in_store = self.store.ids()
        in_manifest = self.manifest.chunk_ids()
        extra = in_store - in_manifest
        missing = in_manifest - in_store
        if extra:
            self.store.delete(sorted(extra))
        if missing:
            chunks = list(self.manifest.chunks(missing))
            vecs = vectors_for(chunks)
            self.store.upsert(chunks, np.stack([vecs[embed_key(model_id, c.embed_text)] for c in chunks]))
        if extra or missing:
            log.info("reconciled store: %d stale removed, %d missing restored", len(extra), len(missing))
        return {"removed": len(extra), "restored": len(missing)}
