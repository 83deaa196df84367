"""A naive reference pipeline, run beside the project in every evaluation.

It is the LangChain tutorial's default RAG: the raw file text (no cleaning, no metadata, HTML
tags and all) split by ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``,
dense search alone in its own Chroma collection, and for an "answer" the top chunk cut to 300
characters, never refusing. It uses the *same embedder object* as the project, so only the
pipeline differs. Scored by the same harness rules (evidence strings or gold doc ids).

Vectors are cached in ``<dir>/chroma``: a collection that already holds a chunk id (a hash of the
chunk's document id, position and text) is not embedded again.

>>> index = NaiveIndex(Path("data/eval-naive/starter"), embedder)       # doctest: +SKIP
>>> index.sync(split_docs(read_docs([Path("knowledge")])))               # doctest: +SKIP
>>> run_cases(naive_runner(index), cases)                                # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ShegongError
from app.core.settings import disable_telemetry
from app.core.store import collection_ids
from eval.harness import Case, Runner, search_query

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
ANSWER_CHARS = 300
COLLECTION = "naive"
_TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
_PARSED_SUFFIXES = (".pdf", ".docx")


@dataclass
class NaiveDoc:
    doc_id: str
    title: str
    text: str


@dataclass
class NaiveChunk:
    chunk_id: str
    doc_id: str
    title: str
    position: int
    text: str


def _files(path: Path) -> Iterator[tuple[Path, str]]:
    if path.is_file():
        yield path, path.name
        return
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if file.is_file() and not any(part.startswith(".") for part in rel.parts):
            yield file, rel.as_posix()


def _read_file(file: Path, doc_id: str) -> list[NaiveDoc]:
    from ingest.loaders import decode_bytes, load_path

    suffix = file.suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        return [NaiveDoc(doc_id, file.name, decode_bytes(file.read_bytes()))]  # as-is: markup stays
    if suffix == ".jsonl":
        docs = []
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                title = str(obj.get("title") or "")
                text = str(obj.get("text") or "")
                docs.append(NaiveDoc(str(obj["doc_id"]), title, f"{title}\n{text}" if title else text))
        return docs
    if suffix in _PARSED_SUFFIXES:
        return [NaiveDoc(doc_id, raw.title or file.name, raw.text) for raw in load_path(file)]
    return []  # .yaml sidecars, regions and anything else a text loader would not read


def read_docs(paths: Iterable[Path]) -> list[NaiveDoc]:
    """Every document under the paths, as raw text (a JSONL line is one document: title + text)."""
    docs: list[NaiveDoc] = []
    for path in paths:
        for file, doc_id in _files(Path(path)):
            try:
                docs.extend(_read_file(file, doc_id))
            except (ShegongError, ValueError, KeyError) as exc:
                log.warning("naive reference: skipped %s: %s", file, exc)
    return docs


def sample_docs(docs: Sequence[NaiveDoc], max_docs: int, keep: set[str], seed: int = 0) -> list[NaiveDoc]:
    """At most ``max_docs`` documents: every document in ``keep`` plus a fixed random sample of the rest."""
    if len(docs) <= max_docs:
        return list(docs)
    kept = [d for d in docs if d.doc_id in keep]
    others = [d for d in docs if d.doc_id not in keep]
    rng = random.Random(seed)
    chosen = {id(d) for d in rng.sample(others, max(0, min(len(others), max_docs - len(kept))))}
    return [d for d in docs if d.doc_id in keep or id(d) in chosen]


def split_docs(docs: Iterable[NaiveDoc]) -> list[NaiveChunk]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = []
    for doc in docs:
        for i, text in enumerate(splitter.split_text(doc.text)):
            cid = hashlib.sha1(f"{doc.doc_id}\x1f{i}\x1f{text}".encode()).hexdigest()[:32]
            chunks.append(NaiveChunk(cid, doc.doc_id, doc.title, i, text))
    return chunks


Progress = Callable[[int, int], None]


class NaiveIndex:
    """One Chroma collection of naive chunks, embedded by the project's embedder."""

    def __init__(self, directory: Path, embedder: Any) -> None:
        disable_telemetry()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.embedder = embedder
        self._client = chromadb.PersistentClient(
            path=str(directory / "chroma"), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        )
        meta = {"hnsw:space": "cosine", "embed_model": embedder.model_id}
        self._col = self._client.get_or_create_collection(COLLECTION, metadata=meta)
        if (self._col.metadata or {}).get("embed_model") != embedder.model_id:
            self._client.delete_collection(COLLECTION)
            self._col = self._client.create_collection(COLLECTION, metadata=meta)
        self._batch = max(1, min(self._client.get_max_batch_size(), 2000))

    def ids(self) -> set[str]:
        return collection_ids(self._col)

    def count(self) -> int:
        return int(self._col.count())

    def sync(self, chunks: Sequence[NaiveChunk], progress: Progress | None = None, batch: int = 64) -> dict[str, Any]:
        """Make the collection hold exactly these chunks, embedding only the ones it lacks."""
        t0 = time.perf_counter()
        have = self.ids()
        want = {c.chunk_id: c for c in chunks}
        stale = sorted(have - set(want))
        for i in range(0, len(stale), self._batch):
            self._col.delete(ids=stale[i : i + self._batch])
        todo = sorted((c for cid, c in want.items() if cid not in have), key=lambda c: len(c.text))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            vecs = self.embedder.embed_passages([c.text for c in part])
            self._col.add(
                ids=[c.chunk_id for c in part],
                embeddings=np.asarray(vecs, dtype=np.float32),  # type: ignore[arg-type]
                documents=[c.text for c in part],
                metadatas=[{"doc_id": c.doc_id, "title": c.title, "position": c.position} for c in part],
            )
            if progress:
                progress(min(i + batch, len(todo)), len(todo))
        return {"chunks": len(want), "embedded": len(todo), "removed": len(stale),
                "seconds": round(time.perf_counter() - t0, 2)}

    def search(self, query: str, k: int = 10) -> list[dict[str, Any]]:
        n = self.count()
        if n == 0:
            return []
        vec = self.embedder.embed_query(query)
        res = self._col.query(
            query_embeddings=[np.asarray(vec, dtype=np.float32)],  # type: ignore[arg-type]
            n_results=min(k, n),
            include=["metadatas", "documents", "distances"],
        )
        hits = []
        for cid, dist, meta, doc in zip(
            res["ids"][0], res["distances"][0], res["metadatas"][0], res["documents"][0], strict=True  # type: ignore[index]
        ):
            m = dict(meta or {})
            hits.append({"chunk_id": cid, "doc_id": str(m.get("doc_id", "")), "title": str(m.get("title", "")),
                         "text": doc or "", "score": 1.0 - float(dist)})
        return hits


def naive_runner(index: NaiveIndex, k: int = 10) -> Runner:
    """The reference "answer": the top chunk's first 300 characters, citing that chunk; never refuses."""

    def run(case: Case) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        t0 = time.perf_counter()
        hits = index.search(search_query(case), k)
        top = hits[0] if hits else None
        answer = {
            "answer": top["text"][:ANSWER_CHARS] if top else "",
            "refused": False,
            "mode": "naive",
            "citations": [top] if top else [],
            "timings_ms": {"total": (time.perf_counter() - t0) * 1000},
        }
        return hits, answer

    return run


def describe() -> dict[str, Any]:
    return {
        "pipeline": "raw text -> RecursiveCharacterTextSplitter -> dense only (Chroma) -> top chunk",
        "chunk_size": CHUNK_SIZE,
        "chunk_overlap": CHUNK_OVERLAP,
        "answer_chars": ANSWER_CHARS,
        "cleaning": "none",
    }
