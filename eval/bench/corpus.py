"""Building and caching the bench corpora and their data dirs: documents planned from the external
sets, the embeddings cache seeded from earlier ingests, the CLI ingest, and the store of reused
vectors under new ids."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.bench.children import run_cli
from eval.bench.config import CACHE_DIR, DATA_DIR, EXTERNAL, MODELS_DIR, SET_ORDER
from eval.external import read_jsonl


def first_docs(src: Path, n: int, dest: Path) -> Path:
    with src.open(encoding="utf-8") as fh, dest.open("w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.write(line)
    return dest



# -- corpora from the external sets -------------------------------------------------------------
def settings_for(data_dir: Path, **overrides: Any) -> Any:
    """The settings of a bench data dir (the shared models dir; ``overrides``: more settings, e.g.
    ``database_url`` and ``chroma_url`` for the server deployment)."""
    from app.core.settings import load_settings

    return load_settings(data_dir=data_dir, models_dir_override=MODELS_DIR, **overrides)


def count_chunks(doc: dict[str, Any], size: int, overlap: int) -> int:
    """How many chunks ingest will make of a JSONL document (the same cleaner and splitter)."""
    from ingest.cleaners import clean
    from ingest.splitter import split_text

    cleaned = clean(str(doc["text"]), mask=True)
    if not cleaned.text.strip():
        return 0
    return len(split_text(cleaned.text, doc_id=str(doc["doc_id"]), title="", size=size, overlap=overlap))


def plan_docs(target_chunks: int, sets: Sequence[str] = SET_ORDER) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """Whole documents until about ``target_chunks`` chunks: set by set, in each set the documents
    that answer its eval questions first (so the questions are answerable), then the rest in file
    order. Returns (documents, documents per set, estimated chunks)."""
    settings = settings_for(DATA_DIR)
    chosen: list[dict[str, Any]] = []
    per_set: dict[str, int] = {}
    total = 0
    for name in sets:
        docs_file = EXTERNAL / f"{name}.docs.jsonl"
        if not docs_file.is_file():
            continue
        docs = list(read_jsonl(docs_file))
        gold: dict[str, int] = {}
        eval_file = EXTERNAL / f"{name}.eval.jsonl"
        if eval_file.is_file():
            for q in read_jsonl(eval_file):
                for g in q.get("gold_doc_ids", []):
                    gold.setdefault(str(g), len(gold))
        docs.sort(key=lambda d: gold.get(str(d["doc_id"]), len(gold)))  # stable: file order after the gold
        for d in docs:
            if total >= target_chunks:
                break
            n = count_chunks(d, settings.chunk_size, settings.chunk_overlap)
            if n == 0:
                continue
            chosen.append(d)
            per_set[name] = per_set.get(name, 0) + 1
            total += n
        if total >= target_chunks:
            break
    return chosen, per_set, total


def pick_questions(sets: Iterable[str], doc_ids: set[str], n: int) -> list[str]:
    """``n`` eval questions of ``sets``, round-robin over the sets: those whose gold documents are
    all in the corpus first, then the others; repeated only if there are not enough."""
    answerable: list[list[str]] = []
    others: list[list[str]] = []
    for name in sets:
        eval_file = EXTERNAL / f"{name}.eval.jsonl"
        if not eval_file.is_file():
            continue
        a: list[str] = []
        o: list[str] = []
        for q in read_jsonl(eval_file):
            (a if set(map(str, q.get("gold_doc_ids", []))) <= doc_ids else o).append(str(q["question"]))
        answerable.append(a)
        others.append(o)
    pool = _round_robin(answerable) + _round_robin(others)
    if not pool:
        raise RuntimeError(f"no eval questions in {EXTERNAL}")
    return [pool[i % len(pool)] for i in range(n)]


def _round_robin(lists: Sequence[Sequence[str]]) -> list[str]:
    out: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def model_id() -> str:
    """The default embedder's identity (no model is loaded to know it)."""
    from app.service.factory import build_embedder

    return str(build_embedder(settings_for(DATA_DIR)).model_id)


def vector_cache_sources(exclude: Path | None = None, cache_dir: Path = CACHE_DIR) -> list[Path]:
    """Manifests of earlier ingests whose embeddings cache may hold the vectors we need."""
    found = sorted(DATA_DIR.glob("ext/*/manifest.sqlite3")) + sorted(cache_dir.glob("*/data/manifest.sqlite3"))
    return [p for p in found if exclude is None or p.resolve() != exclude.resolve()]


def seed_vector_cache(target: Any, sources: Iterable[Path], model: str) -> int:
    """Copy the embeddings cache of other manifests made with ``model`` into ``target`` (a
    :class:`Manifest`); the cache is keyed by model and embedded text, so ingest then embeds only
    what none of them had. Returns the number of vectors copied. The other manifests are read as
    they are (their schema is not upgraded)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.core.manifest import Manifest

    seen: set[str] = set()
    for src in sources:
        other = Manifest(src, upgrade_schema=False)
        try:
            if other.get_meta("embed_model") != model:
                continue
            for batch in other.all_cached_vectors():
                fresh = [(k, v) for k, v in batch if k not in seen]
                target.cache_vectors(fresh)
                seen.update(k for k, _ in fresh)
        except SQLAlchemyError as exc:
            print(f"(vector cache {src} unreadable: {exc})", file=sys.stderr)
        finally:
            other.close()
    return len(seen)


@dataclass
class Corpus:
    name: str
    label: str
    root: Path  # holds docs/<name>.jsonl and data/
    data_dir: Path
    docs: int
    chunks: int
    sets: list[str]
    questions: list[str]
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_file(self) -> Path:
        return self.root / "docs" / f"{self.name}.jsonl"


def build_corpus(target_chunks: int, n_queries: int, cache_dir: Path = CACHE_DIR,
                 sets: Sequence[str] = SET_ORDER) -> Corpus:
    """The corpus of about ``target_chunks`` chunks in ``cache_dir``, ingested by the CLI with every
    vector that an earlier ingest made taken from its cache; cheap when it is already there."""
    t0 = time.perf_counter()
    docs, per_set, estimate = plan_docs(target_chunks, sets)
    if not docs:
        raise RuntimeError(f"no documents in {EXTERNAL}")
    name = f"ext{target_chunks}"
    root = cache_dir / name
    data = root / "data"
    corpus = Corpus(name, " + ".join(f"{s} {n}" for s, n in per_set.items()), root, data, len(docs), 0,
                    list(per_set), pick_questions(per_set, {str(d["doc_id"]) for d in docs}, n_queries))
    corpus.docs_file.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not corpus.docs_file.is_file() or corpus.docs_file.read_text(encoding="utf-8") != body:
        corpus.docs_file.write_text(body, encoding="utf-8")
    return ingest_corpus(corpus, only_if_changed=True, extra={"estimated_chunks": estimate, "docs_per_set": per_set},
                         cache_dir=cache_dir, t0=t0)


def tiny_corpus(docs_file: Path, root: Path, questions: list[str], name: str = "tiny") -> Corpus:
    """A corpus of one JSONL file (for tests), ingested like the others into ``root/data``."""
    corpus = Corpus(name, docs_file.name, root, root / "data", 0, 0, [], list(questions))
    corpus.docs_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(docs_file, corpus.docs_file)
    return ingest_corpus(corpus)


def ingest_corpus(corpus: Corpus, *, only_if_changed: bool = False, extra: dict[str, Any] | None = None,
                  cache_dir: Path = CACHE_DIR, t0: float | None = None) -> Corpus:
    """``shegong ingest --sync`` of the corpus's docs folder into its data dir, after copying the
    vectors of earlier ingests into its embeddings cache; the manifest says what it holds."""
    from app.core.manifest import Manifest

    t0 = time.perf_counter() if t0 is None else t0
    settings = settings_for(corpus.data_dir)
    manifest = Manifest(settings.manifest_path)
    try:
        seeded = 0
        if not only_if_changed or len(manifest.documents()) != corpus.docs:
            seeded = seed_vector_cache(manifest, vector_cache_sources(settings.manifest_path, cache_dir), model_id())
    finally:
        manifest.close()
    ing = run_cli(["ingest", str(corpus.docs_file.parent), "--sync", "--json"], corpus.data_dir)
    manifest = Manifest(settings.manifest_path)
    try:
        corpus.chunks, corpus.docs = manifest.count_chunks(), len(manifest.documents())
    finally:
        manifest.close()
    corpus.build = {
        "seconds": round(time.perf_counter() - t0, 1),
        "ingest_s": round(ing.seconds, 1),
        "ingest_rss_mb": round(ing.peak_rss_mb),
        "added": ing.report.get("added"),
        "unchanged": ing.report.get("unchanged"),
        "removed": ing.report.get("removed"),
        "failed": len(ing.report.get("failed") or []),
        "embedded_fresh": ing.report.get("chunks_embedded"),
        "vectors_copied_from_caches": seeded,
        **(extra or {}),
    }
    return corpus


# -- a store of reused vectors under new ids ----------------------------------------------------
def build_reused(source: Path, dest: Path, copies: int, *, database_url: str = "",
                 chroma_url: str = "") -> dict[str, Any]:
    """Write the documents, chunk texts and vectors of the data dir ``source`` ``copies`` times into
    the fresh data dir ``dest``, under doc ids ``<id>-copy1`` … ``<id>-copyN`` and the chunk ids an
    ingest of those documents would give. Only the project's own classes write: the manifest gets
    the documents and the cached vectors, ``Ingestor.reconcile`` fills Chroma from it (nothing is
    embedded: every vector is cached) and ``refresh_lexical`` builds the BM25 index.

    ``database_url`` puts the manifest in that (empty) PostgreSQL database and ``chroma_url`` the
    vectors on that Chroma server, as a node of the server deployment would (SHEGONG_DATABASE_URL,
    SHEGONG_CHROMA_URL); a server that already holds exactly these chunks is left as it is."""
    from app.core.manifest import Manifest, embed_key
    from app.core.store import ChromaStore
    from app.service.factory import build_ingestor
    from ingest.pipeline import data_lock
    from ingest.splitter import chunk_id

    if copies < 1:
        raise ValueError("copies must be at least 1")
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty: the copies go into a fresh data dir")
    t0 = time.perf_counter()
    src = Manifest(source / "manifest.sqlite3")
    ing = build_ingestor(settings_for(dest, database_url=database_url, chroma_url=chroma_url))
    try:
        if ing.manifest.count_chunks():
            raise ValueError(f"{ing.manifest} is not empty: the copies go into a fresh manifest")
        model = ing.embedder.model_id
        if src.get_meta("embed_model") != model:
            raise ValueError(f"{source} holds vectors of {src.get_meta('embed_model')}, not {model}")
        by_doc: dict[str, list[Any]] = {}
        for c in src.chunks():
            by_doc.setdefault(c.doc_id, []).append(c)
        source_chunks = sum(len(v) for v in by_doc.values())
        keys = {embed_key(model, c.embed_text): c for cs in by_doc.values() for c in cs}
        vectors = src.cached_vectors(list(keys))
        missing = [c.chunk_id for k, c in keys.items() if k not in vectors]
        if missing:  # not in the cache (made elsewhere): take them from the source's Chroma
            store = ChromaStore(source / "chroma", model_id=model, dim=ing.embedder.dim)
            got = store.vectors(missing)
            by_id = {c.chunk_id: k for k, c in keys.items()}
            vectors.update({by_id[i]: v for i, v in got.items()})
            if len(vectors) < len(keys):
                raise RuntimeError(f"{len(keys) - len(vectors)} vectors of {source} are neither cached nor stored")
        # the copies hold the same sentences: their selector vectors come along (keyed by content)
        from app.core.sentences import sentence_texts

        sentence_keys = [embed_key(model, t) for t in
                         sentence_texts((c.title, c.heading, c.text) for cs in by_doc.values() for c in cs)]
        vectors.update(src.cached_vectors(sentence_keys))
        with data_lock(dest, ing.manifest.engine):
            ing.manifest.cache_vectors(vectors.items())
            if src.get_meta("sentence_vectors"):
                ing.manifest.set_meta("sentence_vectors", str(src.get_meta("sentence_vectors")))
            records = {r.doc_id: src.document(r.doc_id, with_text=True) for r in src.documents()}
            for i in range(1, copies + 1):
                for doc_id, rec in records.items():
                    if rec is None or doc_id not in by_doc:
                        continue
                    new_id = f"{doc_id}-copy{i}"
                    seen: dict[str, int] = {}
                    chunks = []
                    for c in sorted(by_doc[doc_id], key=lambda c: c.position):
                        dup = seen.get(c.text, 0)
                        seen[c.text] = dup + 1
                        chunks.append(dataclasses.replace(c, chunk_id=chunk_id(new_id, c.text, dup), doc_id=new_id))
                    copy = dataclasses.replace(rec, doc_id=new_id, fingerprint=f"copy{i}:{rec.fingerprint}",
                                               n_chunks=len(chunks), text="")
                    ing.manifest.put_document(copy, rec.text, chunks)
            t_manifest = time.perf_counter() - t0
            fixed = ing.reconcile()
            t_chroma = time.perf_counter() - t0 - t_manifest
            ing.refresh_lexical()
        embedded = bool(getattr(ing.embedder, "loaded", False))
        return {
            "source": str(source),
            "copies": copies,
            "source_docs": len(records),
            "source_chunks": source_chunks,
            "chunks": ing.manifest.count_chunks(),
            "vectors": ing.store.count(),
            "documents": len(ing.manifest.documents()),
            "restored_into_chroma": fixed["restored"],
            "manifest": repr(ing.manifest),
            "vector_store": ing.store.where,
            "embedder_loaded": embedded,  # False: not one vector was computed
            "manifest_s": round(t_manifest, 1),
            "chroma_s": round(t_chroma, 1),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    finally:
        src.close()
        ing.manifest.close()

