"""``python -m eval.train_selector.threshold``: the refusal threshold of the shipped model chosen
again on the development split, now that the select stage keeps only sentences that hold what a
question asks for (``app/rag/rules/asked.yaml``); also that rule's ablation on the same split.

It reads the pool's cached features and candidate texts (``data/selector/``, written by
``python -m eval.train_selector --collect-only``), scores them with the model file, and applies
the asked rule to each question as ``app/rag/pipeline/select.py`` does. The threshold is chosen
the way the training script chooses it (balanced accuracy per source, sources weighted equally),
on development questions only; ``--write`` puts it, and the figures, into the model file.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.rag.asked import asked_types, holds, rules
from eval.train_selector.collect import _merge, read_cached
from eval.train_selector.config import CACHE, MODEL_OUT, OWN_SETS, SHIPPED_SETS
from eval.train_selector.fit import _dev_objective, choose_threshold, evaluate


def sentence_of(in_context: str) -> str:
    """The sentence of a cached candidate text ("标题 > 小标题：句子")."""
    head, sep, rest = in_context.partition("：")
    return rest if sep and not any(ch in head for ch in "。；，！？") else in_context


def load(name: str) -> dict[str, Any]:
    data = read_cached(name)
    path = CACHE / f"texts-{name}.json.gz"
    if data is None or not path.is_file():
        raise SystemExit(f"{name}: no cached features in {CACHE}; run python -m eval.train_selector --collect-only")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data["texts"] = [[sentence_of(t) for t in ts] for ts in json.load(fh)]
    return data


def asked_rows(data: dict[str, Any], without: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Per question whether it asks for something of the rules; per row whether its sentence holds
    it. ``without``: leave that kind out (its ablation)."""
    top = rules()[0]
    restricted = np.zeros(len(data["meta"]), dtype=bool)
    ok = np.ones(len(data["y"]), dtype=bool)
    for i, m in enumerate(data["meta"]):
        types = [t for t in asked_types(m["question"]) if t.name != without]
        if not types:
            continue
        restricted[i] = True
        rows = np.where(data["q"] == i)[0]
        for r, text in zip(rows, data["texts"][i], strict=True):
            ok[r] = holds(types, text)
    return restricted, ok, top


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL_OUT)
    ap.add_argument("--write", action="store_true", help="write the chosen threshold into the model file")
    ap.add_argument("--sets", nargs="*", default=[*SHIPPED_SETS, *OWN_SETS], help="sources whose development questions count")
    args = ap.parse_args(argv)
    from app.rag.pipeline.select import SelectorModel

    parts = {n: load(n) for n in args.sets}
    for d in parts.values():
        # the question as asked: the cached meta's query carries a follow-up's history
        for m in d["meta"]:
            m.setdefault("question", m["query"])
    data = _merge(list(parts.values()))
    data["texts"] = [t for d in parts.values() for t in d["texts"]]
    model = SelectorModel.load(args.model)
    p = model.proba(data["X"])
    dev = np.where(np.array([m["split"] == "dev" for m in data["meta"]])[data["q"]])[0]
    out: dict[str, Any] = {}
    plain = {k: v for k, v in data.items() if k != "asked"}
    for label, d in (("without the asked rule", plain), ("with the asked rule", {**data, "asked": asked_rows(data)})):
        t = choose_threshold(p, d, dev, written_apart=True)
        for name, thr in ((f"threshold {model.threshold:.2f} (in the file)", model.threshold), (f"chosen {t:.2f}", t)):
            figures = evaluate(p, d, dev, thr)
            out[f"{label}, {name}"] = {"threshold": round(float(thr), 2), "objective": round(_dev_objective({"dev": figures}), 4),
                                       "dev": figures}
        out[label] = {"chosen": round(float(t), 2)}
    chosen = out["with the asked rule"]["chosen"]
    full = out[f"with the asked rule, chosen {chosen:.2f}"]
    for kind in rules()[1]:
        figures = evaluate(p, {**data, "asked": asked_rows(data, without=kind.name)}, dev, chosen)
        obj = _dev_objective({"dev": figures})
        out[f"without {kind.name}"] = {"objective": round(obj, 4), "change": round(full["objective"] - obj, 4),
                                    "dev": figures}
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if args.write:
        spec = json.loads(args.model.read_text(encoding="utf-8"))
        spec["threshold_before_asked_rule"] = spec.get("threshold_before_asked_rule", spec["threshold"])
        spec["threshold"] = chosen
        spec["dev_with_asked_rule"] = out[f"with the asked rule, chosen {chosen:.2f}"]["dev"]
        args.model.write_text(json.dumps(spec, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n",
                              encoding="utf-8")
        print(f"wrote threshold {chosen:.2f} into {args.model}")


if __name__ == "__main__":
    main()
