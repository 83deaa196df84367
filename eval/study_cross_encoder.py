"""Study, not shipped: would a cross-encoder fine-tuned from the e5 weights separate answerable from
unanswerable questions better than the answer selector's features?

Reads the pool that ``python -m eval.train_selector`` cached in ``data/selector/`` (features and each
candidate's text in its context). For every question variant, the shipped selector's best ``K``
candidates are kept; a cross-encoder made of e5-small's first six layers and a new linear head is
fine-tuned (one epoch, binary cross-entropy) on pairs of the train split (positives and the three
best-scored negatives per variant; in-domain rows three times), then scored on the development
split. Figures per source: the AUC of the best score for "answerable, with the answer retrieved"
against "unanswerable", and whether the best candidate is an answer, for the selector alone, the
cross-encoder alone and the sum of their logits.

Usage::

    python -m eval.study_cross_encoder --pairs 4000     # about 9 minutes on two quiet cores

Measured 2026-12-01 (session 6), 4,000 pairs, 385 s of training: development laws answerability
AUC 0.863 (selector) against 0.313 (cross-encoder), top-1 0.558 against 0.256; the sum was no
better than the selector alone on any source. A cross-encoder needs far more training than this
machine gives in a session before it can help.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.rag.pipeline.select import SelectorModel
from eval.train_selector import CACHE, OWN_SETS, SEED, SHIPPED_SETS, read_cached

K = 8


@dataclass
class Variant:
    source: str
    split: str
    answerable: bool  # answerable, and an answer is among the candidates
    unanswerable: bool
    query: str
    cands: list[tuple[str, int, float]]  # text in context, label, selector probability


def load_variants(model: SelectorModel) -> list[Variant]:
    out = []
    for name in (*SHIPPED_SETS, *OWN_SETS):
        z = read_cached(name)
        if z is None:
            raise SystemExit(f"no features cached for {name}: run python -m eval.train_selector first")
        meta = z["meta"]
        with gzip.open(CACHE / f"texts-{name}.json.gz", "rt", encoding="utf-8") as fh:
            texts = json.load(fh)
        p, y, q = model.proba(z["X"]), z["y"], z["q"]
        for i, m in enumerate(meta):
            idx = np.where(q == i)[0]
            if not len(idx):
                continue
            best = idx[np.argsort(-p[idx])][:K]
            cands = [(texts[i][j - idx[0]], int(y[j]), float(p[j])) for j in best]
            out.append(Variant(m["source"], m["split"], bool(m["answerable"] and m["has_positive"]),
                               not m["answerable"], m["query"], cands))
    return out


def figures(rows: list[tuple[Variant, np.ndarray]]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {}
    for name in ("selector", "cross-encoder", "sum"):
        labels, scores, top1 = [], [], []
        for v, ce in rows:
            p = np.array([c[2] for c in v.cands])
            s = {"selector": p, "cross-encoder": ce,
                 "sum": np.log(p + 1e-9) - np.log(1 - p + 1e-9) + ce}[name]
            if v.answerable:
                labels.append(1)
                top1.append(v.cands[int(np.argmax(s))][1])
            elif v.unanswerable:
                labels.append(0)
            else:
                continue
            scores.append(float(s.max()))
        out[name] = {"answerability_auc": round(float(roc_auc_score(labels, scores)), 3) if len(set(labels)) > 1 else None,
                     "top1": round(float(np.mean(top1)), 3) if top1 else None}
    return out


def main(argv: list[str] | None = None) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from app.core.settings import Settings
    from app.service.factory import e5_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=4000)
    ap.add_argument("--layers", type=int, default=6)
    args = ap.parse_args(argv)
    random.seed(SEED)
    torch.manual_seed(SEED)
    variants = load_variants(SelectorModel.load())
    pairs = []
    for v in variants:
        if v.split != "train":
            continue
        pos = [c for c in v.cands if c[1]]
        neg = [c for c in v.cands if not c[1]][:3]
        pairs += [(v.query, t, y) for t, y, _ in pos + neg] * (3 if v.source in OWN_SETS else 1)
    random.shuffle(pairs)
    pairs = pairs[: args.pairs]
    path = str(e5_model_dir(Settings()))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, num_hidden_layers=args.layers)
    for w in model.base_model.embeddings.parameters():
        w.requires_grad = False
    opt = torch.optim.AdamW([w for w in model.parameters() if w.requires_grad], lr=3e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    t0 = time.perf_counter()
    for i in range(0, len(pairs), 16):
        batch = pairs[i : i + 16]
        enc = tok([b[0] for b in batch], [b[1] for b in batch], padding=True, truncation=True, max_length=128,
                  return_tensors="pt")
        loss = loss_fn(model(**enc).logits[:, 0], torch.tensor([float(b[2]) for b in batch]))
        loss.backward()
        opt.step()
        opt.zero_grad()
    train_s = time.perf_counter() - t0
    model.eval()
    by_source: dict[str, list[tuple[Variant, np.ndarray]]] = {}
    with torch.inference_mode():
        for v in variants:
            if v.split != "dev":
                continue
            enc = tok([v.query] * len(v.cands), [c[0] for c in v.cands], padding=True, truncation=True,
                      max_length=128, return_tensors="pt")
            by_source.setdefault(v.source, []).append((v, model(**enc).logits[:, 0].numpy()))
    report = {"pairs": len(pairs), "train_seconds": round(train_s), "dev": {s: figures(r) for s, r in by_source.items()}}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
