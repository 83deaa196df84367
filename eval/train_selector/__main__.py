"""``python -m eval.train_selector``: collect what is missing, fit, and write the model."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

import eval.train_selector as package
from app.rag.features import feature_names
from eval.train_selector.collect import _merge, collect_set
from eval.train_selector.config import (
    CACHE,
    COMPOSE,
    EXPERIMENT_SETS,
    MODEL_OUT,
    OWN_SETS,
    REPLACE_MARGIN,
    ROOT,
    SEED,
    SHIPPED_SETS,
)
from eval.train_selector.fit import ABLATIONS, KINDS, _dev_objective, evaluate, fit_models


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(package.__doc__ or "").split("\n")[0])
    ap.add_argument("--per-set", type=int, default=None, help="raw questions per external set (default: PER_SET)")
    ap.add_argument("--experiment", action="store_true", help="also collect cail2019_rc and ncp_policy (report only)")
    ap.add_argument("--out", type=Path, default=MODEL_OUT)
    ap.add_argument("--sets", nargs="*", default=None, help="collect only these sets (then stop)")
    ap.add_argument("--collect-only", action="store_true")
    ap.add_argument("--force", action="store_true", help="write the refit even if it does not beat the current model")
    ap.add_argument("--ablate", action="store_true", help="refit without each feature group and report")
    ap.add_argument("--starter-kb", type=Path, default=ROOT / "data" / "starter")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    t0 = time.perf_counter()
    parts = []
    sets = [*SHIPPED_SETS, *(EXPERIMENT_SETS if args.experiment else ())]
    if args.sets is not None:
        for name in args.sets:
            collect_set(name, args.per_set, args.starter_kb)
        return
    for name in [*sets, *OWN_SETS]:
        parts.append((name, collect_set(name, args.per_set, args.starter_kb)))
    if args.collect_only:
        return
    shipped = _merge([d for n, d in parts if n not in EXPERIMENT_SETS])
    fitted = fit_models(shipped)
    kind = max(fitted["models"], key=lambda k: fitted["models"][k]["dev_objective"])
    chosen = fitted["models"][kind]
    report = {k: {kk: vv for kk, vv in v.items() if kk not in ("layers", "p")} for k, v in fitted["models"].items()}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    n_train = sum(1 for m in shipped["meta"] if m["split"] == "train")
    spec = {
        "version": 1,
        "kind": kind,
        "features": feature_names(),
        "mean": fitted["mean"].tolist(),
        "scale": fitted["scale"].tolist(),
        "layers": chosen["layers"],
        "calibration": chosen["calibration"],
        "threshold": chosen["threshold"],
        "compose": COMPOSE,
        "trained_on": {
            "sets": [*SHIPPED_SETS, "starter (dev half)", "own (eval/sets/train_own.jsonl)",
                     "laws (eval/train_laws/questions.jsonl)"],
            "questions": {n: len({m["qid"] for m in d["meta"]}) for n, d in parts if n not in EXPERIMENT_SETS},
            "question_variants_train": n_train,
            "candidates": len(shipped["y"]),
            "positives": int(shipped["y"].sum()),
            "seed": SEED,
            "collect_seconds": {n: round(d["seconds"], 1) for n, d in parts},
            "total_seconds": round(time.perf_counter() - t0, 1),
        },
        "dev": chosen["dev"],
        "dev_sentence_auc": chosen["dev_sentence_auc"],
    }
    if args.out.is_file() and not args.force:
        from app.rag.pipeline.select import SelectorModel

        try:
            incumbent = SelectorModel.load(args.out)
        except ValueError as exc:  # features changed since: it cannot be compared, so it is replaced
            print(f"{args.out} cannot be compared ({exc}); replaced")
        else:
            dev_rows = np.where(np.array([m["split"] == "dev" for m in shipped["meta"]])[shipped["q"]])[0]
            held = evaluate(incumbent.proba(shipped["X"]), shipped, dev_rows, incumbent.threshold)
            old = _dev_objective({"dev": held})
            print(f"{args.out} on this pool's development split: objective {old:.4f}; refit {chosen['dev_objective']:.4f}")
            print(json.dumps(held, ensure_ascii=False))
            if chosen["dev_objective"] < old + REPLACE_MARGIN:
                alt = CACHE / "selector.refit.json"
                args.out = alt
                print(f"the refit gains less than {REPLACE_MARGIN}: the shipped model stays; refit written to {alt}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(spec, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out} ({kind}, threshold {chosen['threshold']:.2f})")
    if args.ablate:
        base = chosen["dev_objective"]
        table = {}
        for group, cols in ABLATIONS.items():
            r = fit_models(shipped, {kind: KINDS[kind]}, drop=cols)["models"][kind]
            table[group] = {"dev_objective": r["dev_objective"], "change": round(r["dev_objective"] - base, 4),
                            "dev": r["dev"]}
            print(f"without {group}: dev objective {r['dev_objective']:.4f} ({r['dev_objective'] - base:+.4f})")
        (CACHE / "ablation.json").write_text(json.dumps({"kind": kind, "dev_objective": base, "without": table},
                                                        ensure_ascii=False, indent=1), encoding="utf-8")
    if args.experiment:
        from app.rag.pipeline.select import SelectorModel

        model = SelectorModel(spec)
        for name, d in parts:
            if name in EXPERIMENT_SETS:
                p = model.proba(d["X"])
                print(name, json.dumps(evaluate(p, d, np.arange(len(d["y"])), model.threshold), ensure_ascii=False))


if __name__ == "__main__":
    main()
