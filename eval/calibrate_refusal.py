"""Calibrate the refusal thresholds on a test set's answerable and unanswerable questions.

For each case it records what the refusal check sees (top cosine, rarity-weighted term coverage of
the evidence, the chosen sentences' own match, whether they hold the kind of answer asked for),
then searches the thresholds that maximise balanced accuracy (mean of: answerable answered,
unanswerable refused), preferring fewer false refusals on ties. Injection attempts are refused by
pattern and left out. Print the result; copy it into ``RefusalConfig``'s defaults deliberately.

Usage: ``python -m eval.calibrate_refusal --data-dir data/starter eval/sets/starter.jsonl``
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, replace
from pathlib import Path

from app.rag.factory import build_assistant
from app.rag.refusal import RefusalConfig, asks_personal_data, assess, is_injection
from app.settings import Settings
from eval.harness import load_cases
from ingest.cleaners import normalize_query


def features(assistant, cases):  # type: ignore[no-untyped-def]
    rows = []
    lenient = RefusalConfig(min_cosine=0.0, min_coverage=0.0, min_answer_match=0.0)
    for case in cases:
        q = normalize_query(case.question)
        if is_injection(q) or asks_personal_data(q):
            continue  # refused by pattern, before any threshold
        _, terms, hits, _ = assistant._retrieve(q, case.history, None, None)
        draft = assistant.extractive.answer(q, hits, terms)
        a = assess(q, terms, hits, draft, lenient, assistant.retriever.idf)
        rows.append({"id": case.id, "answerable": case.answerable, "cos": a.top_cosine, "cov": a.coverage,
                     "match": a.answer_match, "kind_ok": a.kind_ok, "terms": list(terms.terms), "kind": terms.kind})
    return rows


def decide(row: dict, cfg: RefusalConfig, use_kind: bool) -> bool:  # type: ignore[type-arg]
    refuse = row["cos"] < cfg.min_cosine or row["cov"] < cfg.min_coverage or row["match"] < cfg.min_answer_match
    return refuse or (use_kind and not row["kind_ok"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("testset", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    args = ap.parse_args()
    assistant = build_assistant(Settings(data_dir=args.data_dir))
    rows = features(assistant, load_cases(args.testset))
    pos = [r for r in rows if r["answerable"]]
    neg = [r for r in rows if not r["answerable"]]
    best = None
    table = []
    for cos, cov, match, use_kind in itertools.product(
        [0.0, 0.80, 0.82, 0.84, 0.843, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90],
        [0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85],
        [0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6],
        [True, False],
    ):
        cfg = replace(RefusalConfig(), min_cosine=cos, min_coverage=cov, min_answer_match=match)
        answered = sum(1 for r in pos if not decide(r, cfg, use_kind))
        refused = sum(1 for r in neg if decide(r, cfg, use_kind))
        bal = (answered / len(pos) + refused / len(neg)) / 2
        key = (bal, answered)
        table.append((round(bal, 4), answered, refused, cos, cov, match, use_kind))
        if best is None or key > best[0]:
            best = (key, cfg, use_kind, answered, refused)
    assert best is not None
    for row in sorted(set(table), reverse=True)[:12]:
        print("candidate (balanced, answered, refused, min_cos, min_cov, min_match, kind):", row)
    (bal, _), cfg, use_kind, answered, refused = best
    print(json.dumps({"balanced_accuracy": round(bal, 4), "answerable_answered": f"{answered}/{len(pos)}",
                      "unanswerable_refused": f"{refused}/{len(neg)}", "config": asdict(cfg),
                      "require_kind": use_kind}, ensure_ascii=False))
    for r in neg:
        if not decide(r, cfg, use_kind):
            print("answered but unanswerable:", json.dumps(r, ensure_ascii=False))
    for r in pos:
        if decide(r, cfg, use_kind):
            print("refused but answerable:", json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
