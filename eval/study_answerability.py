"""Study, not shipped: is the best sentence's probability the best answerability score, or would a
question-level model do better?

Reads the pool cached by ``python -m eval.train_selector`` (``data/selector/``). For every question
variant that is answerable with the answer retrieved (label 1) or unanswerable (label 0), it takes
the shipped selector's best and second-best logits, the best plain and in-context e5 cosines, and
the best coverage, bigram share, dense score and term count; a logistic regression over these is
fitted on the train split (each source and label weighted equally) and every score is compared by
its AUC on the development split, per source.

Usage::

    python -m eval.study_answerability      # seconds, once the pool is cached

Measured 2026-12-01 (session 6), development AUC (best probability / best cosine / logistic):
laws 0.863 / 0.897 / 0.877 (122 variants), starter 0.644 / 0.733 / 0.739 (27), own 0.709 / 0.716 /
0.689 (76), cmrc2018 0.971 / 0.976 / 0.976, drcd 0.961 / 0.910 / 0.962.
"""

from __future__ import annotations

import json

import numpy as np

from app.rag.features import feature_names
from app.rag.pipeline.select import SelectorModel
from eval.train_selector import OWN_SETS, SHIPPED_SETS, read_cached

COLUMNS = ("best_logit", "second_logit", "cos_ctx_top", "cos_top", "lex", "bigram", "dense", "n_terms")


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p + 1e-6) - np.log(1 - p + 1e-6))


def question_rows(model: SelectorModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    col = {n: i for i, n in enumerate(feature_names())}
    sources, splits, labels, rows = [], [], [], []
    for name in (*SHIPPED_SETS, *OWN_SETS):
        z = read_cached(name)
        if z is None:
            raise SystemExit(f"no features cached for {name}: run python -m eval.train_selector first")
        meta = z["meta"]
        X, q = z["X"], z["q"]
        lg = _logit(model.proba(X))
        for i, m in enumerate(meta):
            idx = np.where(q == i)[0]
            if not len(idx):
                continue
            if m["answerable"] and m["has_positive"]:
                label = 1
            elif not m["answerable"]:
                label = 0
            else:
                continue  # answerable, but no answer among the candidates: neither
            best = np.sort(lg[idx])[::-1]
            rows.append([best[0], best[1] if len(best) > 1 else -10.0,
                         *(X[idx, col[c]].max() for c in COLUMNS[2:])])
            sources.append(m["source"])
            splits.append(m["split"])
            labels.append(label)
    return np.array(sources), np.array(splits), np.array(labels), np.array(rows, dtype=np.float64)


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    src, split, y, F = question_rows(SelectorModel.load())
    train = split == "train"
    weight = np.ones(len(y))
    for s in set(src):
        for label in (0, 1):
            k = (src == s) & (y == label) & train
            weight[k] = 1.0 / max(int(k.sum()), 1)
    mean, scale = F[train].mean(axis=0), F[train].std(axis=0) + 1e-6
    Z = (F - mean) / scale
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(Z[train], y[train], sample_weight=weight[train] * train.sum())
    score = lr.decision_function(Z)
    report: dict[str, object] = {"coefficients": dict(zip(COLUMNS, np.round(lr.coef_[0], 2).tolist(), strict=True))}
    for s in sorted(set(src)):
        k = ~train & (src == s)
        if len(set(y[k])) < 2:
            continue
        report[s] = {"variants": int(k.sum()),
                     "best_probability": round(float(roc_auc_score(y[k], F[k, 0])), 3),
                     "best_cosine": round(float(roc_auc_score(y[k], F[k, 3])), 3),
                     "logistic": round(float(roc_auc_score(y[k], score[k])), 3)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
