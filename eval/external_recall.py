"""Recall@10 on the external sets' eval files, through the same search that /api/search serves,
beside plain BM25 and dense search alone (first 10 chunks each).

Each set must be ingested into ``data/ext/NAME`` first (see eval/tune_fusion.py).
Usage: ``python -m eval.external_recall [--k 10]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app.core.settings import Settings
from app.core.text import normalize_query
from app.service.factory import build_assistant, build_embedder
from eval.external import SETS, eval_questions

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", type=Path, default=ROOT / "data" / "external_recall.json")
    args = ap.parse_args()
    embedder = build_embedder(Settings())
    rows = []
    for name in SETS:
        data = ROOT / "data" / "ext" / name
        if not (data / "manifest.sqlite3").exists():
            print(f"{name}: not ingested into {data}, skipped")
            continue
        assistant = build_assistant(Settings(data_dir=data), embedder)
        r = assistant.retriever
        r._refresh()
        doc_of = {cid: c.doc_id for cid, c in r._chunks.items()}
        qs = eval_questions(name)
        hit = {"hybrid": 0, "bm25": 0, "dense": 0}
        t0 = time.perf_counter()
        for qa in qs:
            gold = set(qa.gold_doc_ids)
            q = normalize_query(qa.question)
            hybrid = [h.doc_id for h in assistant.search(qa.question, args.k)]
            bm25 = [doc_of[c] for c, _ in r.lexical(q, args.k)]
            dense = [doc_of[c] for c, _ in r.dense(q, args.k)]
            for key, docs in (("hybrid", hybrid), ("bm25", bm25), ("dense", dense)):
                hit[key] += bool(gold & set(docs[: args.k]))
        n = len(qs)
        row = {"set": name, "questions": n, **{f"{k}_R@{args.k}": round(v / n, 3) for k, v in hit.items()},
               "chunks": len(doc_of), "ms_per_query": round((time.perf_counter() - t0) * 1000 / n, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
