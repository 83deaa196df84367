"""The texts the study embeds: ncp_policy chunks and their questions, cail2019_rc rows for the load,
split the way ingest does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Corpus:
    texts: list[str]  # Chunk.embed_text of every chunk
    doc_of: list[str]  # doc_id of every chunk
    n_docs: int
    questions: list[str]
    gold: list[set[str]]


def chunk_texts(rows: Sequence[dict[str, object]], size: int = 350, overlap: int = 60) -> tuple[list[str], list[str]]:
    """Clean and split documents the way ``Ingestor._prepare_doc`` does; returns (embed texts, doc ids)."""
    from ingest import metadata as md
    from ingest.cleaners import clean
    from ingest.splitter import split_text

    texts, docs = [], []
    for r in rows:
        doc_id = str(r["doc_id"])
        cleaned = clean(str(r["text"])).text
        if not cleaned.strip():
            continue
        title = str(r.get("title") or "") or md.extract_title(cleaned, Path(doc_id).stem)
        for c in split_text(cleaned, doc_id=doc_id, title=title, size=size, overlap=overlap):
            texts.append(c.embed_text)
            docs.append(doc_id)
    return texts, docs


def ncp_corpus(n_docs: int | None) -> Corpus:
    """ncp_policy chunks (first ``n_docs`` documents, all when None) and the eval questions they answer."""
    from eval.external import docs_path, eval_questions, read_jsonl

    rows = []
    for i, r in enumerate(read_jsonl(docs_path("ncp_policy"))):
        if n_docs is not None and i >= n_docs:
            break
        rows.append(r)
    texts, docs = chunk_texts(rows)
    known = {str(r["doc_id"]) for r in rows}
    qs = [q for q in eval_questions("ncp_policy") if set(q.gold_doc_ids) <= known]
    return Corpus(texts, docs, len(rows), [q.question for q in qs], [set(q.gold_doc_ids) for q in qs])


def cail_rows(start: int, stop: int) -> list[dict[str, object]]:
    from eval.external import docs_path, read_jsonl

    out = []
    for i, r in enumerate(read_jsonl(docs_path("cail2019_rc"))):
        if i >= stop:
            break
        if i >= start:
            out.append(r)
    return out
