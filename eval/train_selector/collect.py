"""Features of every candidate sentence of the pool's questions, cached in ``data/selector/``."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.settings import Settings
from app.rag.features import feature_names
from eval.harness import squash
from eval.train_selector.config import CACHE, OWN_SETS, PASSAGES, PER_SET
from eval.train_selector.pools import Question, eval_docs, external_kb, external_pool, is_dev, own_kb, own_pool

log = logging.getLogger(__name__)


def _label(sentence: str, positives: list[str]) -> int:
    s = squash(sentence)
    return int(any(p in s or (len(s) >= 8 and s in p) for p in positives))


def collect(name: str, questions: list[Question], data_dir: Path) -> dict[str, Any]:
    """Features of every candidate sentence of every question (and of its withheld variant)."""
    from app.core.sentences import in_context
    from app.core.text import normalize_query
    from app.rag.pipeline.analyse import analyse
    from app.rag.pipeline.retrieve import retrieve
    from app.rag.pipeline.select import SentenceSelector, SentenceVectors
    from app.rag.retriever import Filters
    from app.rag.terms import warm_up
    from app.service.factory import build_retriever

    warm_up()
    retriever = build_retriever(Settings(data_dir=data_dir))
    # features only: no model is needed (nor trusted) while the pool is collected
    vectors = SentenceVectors(retriever.manifest, retriever.embedder, memory=400_000, persist=True)
    selector = SentenceSelector(None, vectors, retriever.idf, max_passages=PASSAGES)
    held = sorted(eval_docs()) if name not in OWN_SETS else []
    xs, ys, qix = [], [], []
    meta: list[dict[str, Any]] = []
    texts: list[list[str]] = []  # each variant's candidates in context (for studies of other scorers)
    t0 = time.perf_counter()
    for n, q in enumerate(questions):
        variants = [("asked", Filters(exclude_doc_ids=held) if held else None)]
        if q.withheld:
            variants.append(("withheld", Filters(exclude_doc_ids=[*held, *q.withheld])))
        for variant, filters in variants:
            # the product's own stages: what a worker's question would go through
            a = analyse(q.question, q.history)
            hits = retrieve(a, retriever, passages=PASSAGES, filters=filters).hits
            qvec = retriever.query_vector(normalize_query(a.search_query))
            cands, x = selector.featurise(a.terms, qvec, hits)
            gold = set(q.withheld)
            if variant == "withheld" or not q.answerable:
                y = np.zeros(len(cands), dtype=np.int8)
            else:
                y = np.array([_label(c.text, q.positives) and (not gold or hits[c.hit_index].doc_id in gold)
                              for c in cands], dtype=np.int8)
            texts.append([in_context(hits[c.hit_index].title, hits[c.hit_index].heading, c.text) for c in cands])
            meta.append({"qid": q.qid, "source": q.source, "split": "dev" if is_dev(q.group) else "train",
                         "query": a.search_query,
                         "variant": variant, "answerable": bool(q.answerable and variant == "asked"),
                         "has_positive": bool(y.any()), "n": len(cands),
                         "gold_retrieved": bool(gold & {h.doc_id for h in hits}) if gold else None})
            xs.append(x)
            ys.append(y)
            qix.append(np.full(len(cands), len(meta) - 1, dtype=np.int32))
        if n % 200 == 0:
            log.info("%s: %d/%d questions, %.0f s", name, n, len(questions), time.perf_counter() - t0)
    return {"X": np.concatenate(xs), "y": np.concatenate(ys), "q": np.concatenate(qix), "meta": meta,
            "texts": texts, "seconds": time.perf_counter() - t0}


def pool_key(questions: Sequence[Question]) -> str:
    """What the cached features were collected for: a changed question set is collected again."""
    h = hashlib.sha1()
    for q in questions:
        h.update(f"{q.qid}\t{q.question}\t{q.answerable}\t{q.positives}\n".encode())
    return h.hexdigest()[:16]


def read_cached(name: str) -> dict[str, Any] | None:
    """One set's cached features with the code's columns (a feature dropped since is left out), or
    None when nothing usable is cached. ``pool`` says which questions they were collected for."""
    path = CACHE / f"features-{name}.npz"
    if not path.is_file():
        return None
    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    names = feature_names()
    if not set(names) <= set(meta["features"]):
        return None
    cols = [meta["features"].index(n) for n in names]
    return {"X": z["X"][:, cols], "y": z["y"], "q": z["q"], "meta": meta["questions"],
            "seconds": meta["seconds"], "pool": meta.get("pool")}


def cached(name: str, questions: Sequence[Question], build: Any) -> dict[str, Any]:
    import gzip

    names = feature_names()
    key = pool_key(questions)
    found = read_cached(name)
    if found is not None and found["pool"] == key:
        return found
    data = build(questions)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE / f"features-{name}.npz", X=data["X"], y=data["y"], q=data["q"],
                        meta=json.dumps({"features": names, "pool": key, "questions": data["meta"],
                                         "seconds": data["seconds"]}))
    with gzip.open(CACHE / f"texts-{name}.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(data["texts"], fh, ensure_ascii=False)
    return data


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    xs, ys, qs = [], [], []
    meta: list[dict[str, Any]] = []
    for p in parts:
        qs.append(p["q"] + len(meta))
        xs.append(p["X"])
        ys.append(p["y"])
        meta.extend(p["meta"])
    return {"X": np.concatenate(xs), "y": np.concatenate(ys), "q": np.concatenate(qs), "meta": meta}


def collect_set(name: str, per_set: int | None, starter_kb: Path) -> dict[str, Any]:
    """One set's features, from the cache when its questions have not changed."""
    if name in OWN_SETS:
        kb = own_kb(name, starter_kb)
        return cached(name, own_pool(name, kb), lambda qs, n=name, kb=kb: collect(n, qs, kb))
    qs = external_pool(name, per_set or PER_SET[name])
    return cached(name, qs, lambda qs, n=name: collect(n, qs, external_kb(n)))
