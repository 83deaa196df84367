"""Tune the fusion of dense and lexical retrieval on held-out questions of the external sets.

Questions come from each set's raw upstream files minus its eval file (``eval.external``), so the
figures reported on the eval files are not the ones tuned on. Each set must have been ingested
into ``data/ext/NAME`` (``shegong --data-dir data/ext/NAME ingest ../shared/external/NAME.docs.jsonl``).
Ranked lists are computed once per question; every candidate configuration is then scored on
them, and the configuration with the best worst-case gain over the best single retriever wins.

Usage: ``python -m eval.tune_fusion [--questions 400]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

from app.core.settings import Settings
from app.rag.fusion import FusionConfig, fuse
from app.service.factory import build_embedder, build_retriever
from eval.external import QA, SETS, tuning_questions

ROOT = Path(__file__).resolve().parent.parent
Ranked = list[tuple[str, float]]


def recall_at(ranked_ids: list[str], chunk_doc: dict[str, str], gold: set[str], k: int, max_per_doc: int) -> float:
    per_doc: dict[str, int] = {}
    shown = 0
    for cid in ranked_ids:
        d = chunk_doc.get(cid)
        if d is None:
            continue
        if per_doc.get(d, 0) >= max_per_doc:
            continue
        per_doc[d] = per_doc.get(d, 0) + 1
        if d in gold:
            return 1.0
        shown += 1
        if shown >= k:
            break
    return 0.0


def collect(name: str, n: int, embedder: object, over_fetch: int) -> tuple[list[tuple[QA, Ranked, Ranked]], dict[str, str]]:
    settings = Settings(data_dir=ROOT / "data" / "ext" / name)
    retriever = build_retriever(settings, embedder)  # type: ignore[arg-type]
    retriever._refresh()
    chunk_doc = {cid: c.doc_id for cid, c in retriever._chunks.items()}
    from app.core.text import normalize_query

    rows = []
    for qa in tuning_questions(name, limit=n):
        q = normalize_query(qa.question)
        rows.append((qa, retriever.dense(q, over_fetch), retriever.lexical(q, over_fetch)))
    return rows, chunk_doc


def evaluate(rows: list[tuple[QA, Ranked, Ranked]], chunk_doc: dict[str, str], cfg: FusionConfig | None,
             which: str, max_per_doc: int, k: int = 10) -> float:
    total = 0.0
    for qa, dense, lexical in rows:
        if which == "dense":
            ranked = [c for c, _ in dense]
        elif which == "lexical":
            ranked = [c for c, _ in lexical]
        else:
            assert cfg is not None
            ranked = [c for c, _ in fuse({"dense": dense, "lexical": lexical}, cfg)]
        total += recall_at(ranked, chunk_doc, set(qa.gold_doc_ids), k, max_per_doc)
    return total / max(len(rows), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--over-fetch", type=int, default=60)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--out", default=str(ROOT / "data" / "tune_fusion.json"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    embedder = build_embedder(Settings())
    data = {}
    for name in args.sets.split(","):
        if not (ROOT / "data" / "ext" / name / "manifest.sqlite3").exists():
            print(f"skip {name}: not ingested into data/ext/{name}")
            continue
        data[name] = collect(name, args.questions, embedder, args.over_fetch)
        print(f"{name}: {len(data[name][0])} questions ranked ({time.perf_counter() - t0:.0f} s)", flush=True)

    results = []
    base = FusionConfig()
    grid = itertools.product([0.0, 0.25, 0.5, 0.75, 1.0, 1.5], [0.5, 0.7, 1.0, 1.4, 2.0], [10, 30, 60], [1, 2, 3])
    singles = {n: {w: {m: evaluate(r, cd, None, w, m) for m in (1, 2, 3)} for w in ("dense", "lexical")}
               for n, (r, cd) in data.items()}
    for gate, lex_w, rrf_k, max_per_doc in grid:
        cfg = replace(base, gate=gate, rrf_k=rrf_k, weights={"dense": 1.0, "lexical": lex_w})
        per_set = {n: evaluate(r, cd, cfg, "fused", max_per_doc) for n, (r, cd) in data.items()}
        gains = {n: per_set[n] - max(singles[n]["dense"][max_per_doc], singles[n]["lexical"][max_per_doc])
                 for n in per_set}
        results.append({"gate": gate, "lexical_weight": lex_w, "rrf_k": rrf_k, "max_per_doc": max_per_doc,
                        "recall@10": per_set, "gain_over_best_single": gains,
                        "worst_gain": min(gains.values()), "mean": sum(per_set.values()) / len(per_set)})
    results.sort(key=lambda r: (-(float(r["worst_gain"]) >= 0), -float(r["mean"])))  # type: ignore[arg-type]
    print("single retrievers (R@10 by max_per_doc):", json.dumps(singles, indent=None))
    for r in results[:10]:
        print(json.dumps(r, ensure_ascii=False))
    Path(args.out).write_text(json.dumps({"singles": singles, "results": results}, ensure_ascii=False, indent=1))
    print(f"done in {time.perf_counter() - t0:.0f} s; all results in {args.out}")


if __name__ == "__main__":
    main()
