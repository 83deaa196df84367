"""Tune the lexical list's coverage weights (``FusionConfig.coverage_weights``) on development data.

Development data only, never a test set:
- ``eval/train_laws`` questions-b and -c (colloquial questions over 8 laws), the knowledge base being
  the 13 laws of ``eval/train_laws/docs``; a hit is a chunk that holds the question's evidence;
- for each external set, raw questions outside its eval file whose gold document is in a sample of
  200 documents that no eval question is on (``eval.external.tuning_questions``); a hit is a chunk of
  the gold document.

Each knowledge base is ingested once under ``--data-dir``; the dense and BM25 lists and the query
coverage are computed once per question, then every grid point is scored on them (recall@6 with at
most ``max_per_doc`` chunks a document, as the answer reads). The grid's best few were then checked
through the whole chat path (``shegong eval``) before one was chosen; the figures are in
``app/rag/fusion.py``.

Run 2026-12-04 (recall@6; laws 240 questions, the external sets 340 or 339 each):

=================  =====  =====  =====  =====  =====
weight             laws   ncp    cail   drcd   cmrc
=================  =====  =====  =====  =====  =====
fixed 1.0          0.842  0.665  0.876  0.994  0.997
fixed 2.0 (was)    0.808  0.650  0.900  0.997  1.000
coverage 0.25-3.0  0.842  0.668  0.900  0.997  1.000
=================  =====  =====  =====  =====  =====

Usage: ``python -m eval.tune_coverage [--data-dir data/tune_coverage]`` (about 70 s once the five
knowledge bases are ingested; ingesting them on a fresh machine takes much longer).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.errors import ValidationError
from app.core.settings import Settings
from app.core.text import normalize_query
from app.rag.fusion import FusionConfig, fuse
from app.rag.pipeline.analyse import analyse
from app.rag.retriever import Retriever
from app.service.factory import build_embedder, build_ingestor, build_retriever
from eval.external import SETS, docs_path, eval_questions, read_jsonl, tuning_questions
from eval.harness import squash

ROOT = Path(__file__).resolve().parent.parent
LAWS = ROOT / "eval" / "train_laws"
Ranked = list[tuple[str, float]]


@dataclass
class Row:
    dense: Ranked
    lexical: Ranked
    coverage: float
    hit: Callable[[str], bool]  # is this chunk id a right passage
    doc_of: dict[str, str]  # chunk id -> document id, for the per-document cap


def _rows(retriever: Retriever, questions: Sequence[tuple[str, Callable[[str], bool]]]) -> list[Row]:
    doc_of = {cid: c.doc_id for cid, c in retriever._chunks.items()}
    out = []
    for question, hit in questions:
        try:
            a = analyse(question, None)
        except ValidationError:  # an upstream question the product refuses to read (empty, too long)
            continue
        lq = normalize_query(a.lexical_query)
        dense = retriever.dense(normalize_query(a.search_query), 60)
        lexical = retriever.lexical(lq, 60)
        cov = retriever.coverage(lq, lexical[0][0]) if lexical else 0.0
        out.append(Row(dense, lexical, cov, hit, doc_of))
    return out


def _knowledge_base(data_dir: Path, paths: list[Path], embedder: object) -> Retriever:
    settings = Settings(data_dir=data_dir)
    if not (data_dir / "manifest.sqlite3").exists():
        ing = build_ingestor(settings, embedder)  # type: ignore[arg-type]
        ing.ingest(paths)
        ing.manifest.close()
    r = build_retriever(settings, embedder)  # type: ignore[arg-type]
    r._refresh()
    return r


def law_rows(data_dir: Path, embedder: object) -> list[Row]:
    r = _knowledge_base(data_dir / "laws", [LAWS / "docs"], embedder)
    texts = {cid: squash(c.text) for cid, c in r._chunks.items()}
    qs = []
    for name in ("questions-b.jsonl", "questions-c.jsonl"):
        for line in (LAWS / name).read_text(encoding="utf-8").splitlines():
            o = json.loads(line)
            if not o.get("answerable", True):
                continue
            ev = [e for e in map(squash, o["evidence"] if isinstance(o["evidence"], list) else [o["evidence"]]) if e]
            gold = {cid for cid, t in texts.items() if any(e in t for e in ev)}
            qs.append((str(o["question"]), gold.__contains__))
    return _rows(r, qs)


def external_rows(name: str, data_dir: Path, embedder: object, n_questions: int) -> list[Row]:
    """Tuning questions of ``name`` over their gold documents and others, none an eval question's."""
    on_eval = {g for q in eval_questions(name) for g in q.gold_doc_ids}
    pool = [q for q in tuning_questions(name, seed=99) if not set(q.gold_doc_ids) & on_eval]
    gold_docs = {g for q in pool[:40] for g in q.gold_doc_ids}  # 40 questions' documents and 160 others
    rows = list(read_jsonl(docs_path(name)))
    others = sorted((r for r in rows if str(r["doc_id"]) not in gold_docs | on_eval),
                    key=lambda r: hashlib.sha1(f"dev:{r['doc_id']}".encode()).hexdigest())
    keep = gold_docs | {str(r["doc_id"]) for r in others[:160]}
    qs = [q for q in pool if set(q.gold_doc_ids) <= keep][:n_questions]  # every question those documents answer
    target = data_dir / f"{name}.docs.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        with target.open("w", encoding="utf-8") as fh:
            for r in rows:
                if str(r["doc_id"]) in keep:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    retriever = _knowledge_base(data_dir / name, [target], embedder)
    doc_of = {cid: c.doc_id for cid, c in retriever._chunks.items()}
    return _rows(retriever, [(q.question, _in_docs(doc_of, set(q.gold_doc_ids))) for q in qs])


def _in_docs(doc_of: dict[str, str], gold: set[str]) -> Callable[[str], bool]:
    return lambda cid: doc_of.get(cid) in gold


def recall(rows: list[Row], weight: Callable[[float], float], k: int = 6, max_per_doc: int = 6) -> float:
    base = FusionConfig()
    found = 0
    for row in rows:
        cfg = replace(base, weights={"dense": 1.0, "lexical": weight(row.coverage)})
        per_doc: dict[str, int] = {}
        shown = 0
        for cid, _ in fuse({"dense": row.dense, "lexical": row.lexical}, cfg):
            d = row.doc_of.get(cid, cid)
            if per_doc.get(d, 0) >= max_per_doc:
                continue
            per_doc[d] = per_doc.get(d, 0) + 1
            if row.hit(cid):
                found += 1
                break
            shown += 1
            if shown >= k:
                break
    return found / max(len(rows), 1)


def _linear(at0: float, at1: float) -> Callable[[float], float]:
    return lambda c: at0 + (at1 - at0) * c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(ROOT / "data" / "tune_coverage"))
    ap.add_argument("--questions", type=int, default=340, help="tuning questions per external set")
    args = ap.parse_args()
    t0 = time.perf_counter()
    data_dir = Path(args.data_dir)
    embedder = build_embedder(Settings())
    sets: dict[str, list[Row]] = {"laws": law_rows(data_dir, embedder)}
    for name in SETS:
        sets[name] = external_rows(name, data_dir, embedder, args.questions)
        print(f"{name}: {len(sets[name])} questions ({time.perf_counter() - t0:.0f} s)", flush=True)
    grid = [(w, w) for w in (1.0, 1.5, 2.0)] + list(itertools.product((0.25, 0.5, 0.75), (2.0, 3.0, 4.0, 5.0)))
    for at0, at1 in grid:
        label = f"fixed {at0}" if at0 == at1 else f"coverage {at0}-{at1}"
        fn = _linear(at0, at1)
        print(label, json.dumps({n: round(recall(rows, fn), 3) for n, rows in sets.items()}), flush=True)
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
