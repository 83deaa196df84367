"""A backend's row from its child's result: throughput, latency percentiles, recall@10, cosine to the reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.bench_embed.backends import BACKENDS, TOP_K
from eval.bench_embed.corpus import Corpus


def recall_at_k(passages: np.ndarray, doc_of: Sequence[str], queries: np.ndarray, gold: Sequence[set[str]],
                k: int = TOP_K) -> float | None:
    if not len(gold):
        return None
    scores = queries @ passages.T
    k = min(k, passages.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    hits = sum(1 for row, g in zip(top, gold, strict=True) if any(doc_of[j] in g for j in row))
    return hits / len(gold)


def _pct(values: Sequence[float] | None, q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(name: str, res: dict[str, Any], corpus: Corpus, ref: np.ndarray | None) -> dict[str, Any]:
    backend = BACKENDS[name]
    row: dict[str, Any] = {"backend": name, "threads": backend.threads, "about": backend.about, "ok": res.get("ok"),
                           "reason": res.get("reason"), "via": res.get("via"), "notes": res.get("notes", []),
                           "python": res.get("python"), "versions": res.get("versions", {})}
    if not res.get("ok"):
        return row
    vec = np.load(res["vectors"])
    p, q = vec["passages"], vec["queries"]
    cos = np.sum(p * ref, axis=1) if ref is not None and ref.shape == p.shape else None
    load = res.get("load_process") or {}
    row.update(
        passages=res["n_passages"],
        passages_per_s=res["n_passages"] / res["passages_s"],
        q_alone_p50_ms=_pct(res.get("q_alone_ms"), 50),
        q_alone_p95_ms=_pct(res.get("q_alone_ms"), 95),
        q_ingest_p50_ms=_pct(res.get("q_ingest_ms"), 50),
        q_ingest_p95_ms=_pct(res.get("q_ingest_ms"), 95),
        queries=len(corpus.questions),
        recall_at_10=recall_at_k(p, corpus.doc_of, q, corpus.gold),
        cos_min=float(cos.min()) if cos is not None and len(cos) else None,
        cos_mean=float(cos.mean()) if cos is not None and len(cos) else None,
        load_s=res.get("load_s"),
        prep_s=res.get("prep_s"),
        load_process_passages_per_s=(load["passages"] / load["seconds"]) if load.get("seconds") else None,
    )
    return row
