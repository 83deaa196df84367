"""Fitting the model kinds, their calibration and refusal threshold, scoring, and the ablation groups."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.rag.features import feature_names
from eval.train_selector.config import OWN_SETS, SEED


def question_scores(p: np.ndarray, y: np.ndarray, q: np.ndarray, nq: int,
                    asked: tuple[np.ndarray, np.ndarray, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: the best candidate's probability, whether that candidate is an answer, and
    whether an answer is among the best three (an extractive answer shows up to three lines).

    ``asked``: ``(restricted, holds, top)`` — per question whether it asks for something of
    ``app/rag/rules/asked.yaml``, per row whether the sentence holds it; such a question keeps only
    the rows among its ``top`` best that hold it, as the select stage does (none kept: best -1)."""
    best = np.full(nq, -1.0)
    best_pos = np.zeros(nq, dtype=bool)
    top3_pos = np.zeros(nq, dtype=bool)
    order = np.lexsort((-p, q))  # by question, best first
    rank = kept = 0
    for k, i in enumerate(order):
        if k == 0 or q[order[k - 1]] != q[i]:
            rank = kept = 0
        else:
            rank += 1
        if asked is not None and asked[0][q[i]] and (rank >= asked[2] or not asked[1][i]):
            continue
        if kept == 0:
            best[q[i]], best_pos[q[i]] = p[i], bool(y[i])
        if kept < 3 and y[i]:
            top3_pos[q[i]] = True
        kept += 1
    return best, best_pos, top3_pos


def _groups(data: dict[str, Any], rows: np.ndarray) -> dict[str, tuple[list[int], list[int]]]:
    """Per source: (answerable questions whose answer was retrieved, unanswerable questions)."""
    meta = data["meta"]
    present = np.unique(data["q"][rows])
    out: dict[str, tuple[list[int], list[int]]] = {}
    for i in present:
        m = meta[i]
        ans, neg = out.setdefault(m["source"], ([], []))
        if m["answerable"] and m["has_positive"]:
            ans.append(int(i))
        elif not m["answerable"]:
            neg.append(int(i))
    return out


def _asked(data: dict[str, Any], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    a = data.get("asked")
    return None if a is None else (a[0], a[1][rows], a[2])


def evaluate(p: np.ndarray, data: dict[str, Any], rows: np.ndarray, threshold: float) -> dict[str, Any]:
    """Question-level figures on the questions whose candidates are ``rows`` (with the asked rule
    when ``data["asked"]`` holds it, see :func:`asked_rows`)."""
    best, best_pos, top3 = question_scores(p[rows], data["y"][rows], data["q"][rows], len(data["meta"]),
                                           _asked(data, rows))
    out: dict[str, Any] = {}
    for source, (ans, neg) in sorted(_groups(data, rows).items()):
        out[source] = {
            "answerable_with_answer_retrieved": len(ans),
            "top1_is_answer": round(float(np.mean(best_pos[ans])), 3) if ans else None,
            "answered_and_in_top3": round(float(np.mean(top3[ans] & (best[ans] >= threshold))), 3) if ans else None,
            "false_refusal": round(float(np.mean(best[ans] < threshold)), 3) if ans else None,
            "unanswerable": len(neg),
            "refused": round(float(np.mean(best[neg] < threshold)), 3) if neg else None,
        }
    return out


def choose_threshold(p: np.ndarray, data: dict[str, Any], rows: np.ndarray, *, written_apart: bool = False) -> float:
    """The threshold maximising balanced accuracy (share of answerable questions answered, share of
    unanswerable ones refused) over the development questions, each source weighted equally, so
    that our in-domain questions count as much as the larger external pools.

    ``written_apart``: a source's unanswerable questions count as two parts, those written as
    unanswerable (near-topic questions the documents do not answer) and the answerable ones asked
    with their gold documents withheld, so the easier and more numerous withheld variants do not
    outweigh the written ones."""
    best, _, _ = question_scores(p[rows], data["y"][rows], data["q"][rows], len(data["meta"]),
                                 _asked(data, rows))
    groups = _groups(data, rows)
    meta = data["meta"]
    grid = np.round(np.linspace(0.01, 0.9, 90), 2)
    scores = []
    for t in grid:
        per = []
        for ans, neg in groups.values():
            parts = [float(np.mean(best[ans] >= t))] if ans else []
            negs = [neg]
            if written_apart:
                negs = [[i for i in neg if meta[i]["variant"] != "withheld"],
                        [i for i in neg if meta[i]["variant"] == "withheld"]]
            parts += [float(np.mean(best[n] < t)) for n in negs if n]
            per.append(np.mean(parts))
        scores.append(float(np.mean(per)))
    return float(grid[int(np.argmax(scores))])


# Model kinds tried; the one with the best development objective ships. "starter xN" repeats the
# starter's and our own training rows N times (in-domain, but a small part of the pool).
KINDS: dict[str, dict[str, Any]] = {
    "logistic": {"hidden": (), "starter_weight": 1},
    "mlp16": {"hidden": (16,), "starter_weight": 1},
    "mlp32": {"hidden": (32,), "starter_weight": 1},
    "mlp16 starter x10": {"hidden": (16,), "starter_weight": 10},
    "mlp32 starter x10": {"hidden": (32,), "starter_weight": 10},
    "mlp32 starter x3": {"hidden": (32,), "starter_weight": 3},
    "mlp64 starter x3": {"hidden": (64,), "starter_weight": 3},
}


def fit_models(data: dict[str, Any], kinds: dict[str, dict[str, Any]] | None = None,
               drop: Sequence[str] = ()) -> dict[str, Any]:
    """Fit each kind on the train split; calibrate, choose the threshold and score on dev.
    ``drop``: feature columns held at their mean (an ablation)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.neural_network import MLPClassifier

    meta = data["meta"]
    is_dev_q = np.array([m["split"] == "dev" for m in meta])
    is_starter_q = np.array([m["source"] in OWN_SETS for m in meta])
    dev_rows = is_dev_q[data["q"]]
    X, y = data["X"], data["y"]
    mean = X[~dev_rows].mean(axis=0)
    scale = X[~dev_rows].std(axis=0) + 1e-6
    Z = (X - mean) / scale
    names = feature_names()
    for col in drop:
        Z[:, names.index(col)] = 0.0
    train = np.where(~dev_rows)[0]
    results: dict[str, Any] = {}
    for kind, cfg in (kinds or KINDS).items():
        t0 = time.perf_counter()
        rows = train
        if cfg["starter_weight"] > 1:
            extra = train[is_starter_q[data["q"][train]]]
            rows = np.concatenate([train, *([extra] * (cfg["starter_weight"] - 1))])
        if not cfg["hidden"]:
            lr = LogisticRegression(C=1.0, max_iter=2000, random_state=SEED).fit(Z[rows], y[rows])
            layers = [{"W": lr.coef_.T.tolist(), "b": lr.intercept_.tolist()}]
        else:
            mlp = MLPClassifier(hidden_layer_sizes=cfg["hidden"], alpha=1e-3, max_iter=300, early_stopping=True,
                                random_state=SEED).fit(Z[rows], y[rows])
            layers = [{"W": w.tolist(), "b": b.tolist()} for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)]
        logit = _logit(Z, layers)
        # Platt calibration of the logit on the development rows
        cal = LogisticRegression(C=1e6, max_iter=1000).fit(logit[dev_rows, None], y[dev_rows])
        a, b = float(cal.coef_[0, 0]), float(cal.intercept_[0])
        p = 1.0 / (1.0 + np.exp(-(a * logit + b)))
        threshold = choose_threshold(p, data, np.where(dev_rows)[0])
        results[kind] = {
            "layers": layers, "calibration": {"a": a, "b": b}, "threshold": threshold, "p": p,
            "fit_seconds": round(time.perf_counter() - t0, 1),
            "dev_sentence_auc": round(float(roc_auc_score(y[dev_rows], p[dev_rows])), 4),
            "dev": evaluate(p, data, np.where(dev_rows)[0], threshold),
            "train": evaluate(p, data, train, threshold),
        }
        results[kind]["dev_objective"] = round(_dev_objective(results[kind]), 4)
    return {"mean": mean, "scale": scale, "models": results}


# Feature groups for the ablation: each is held at its mean and the chosen kind refitted.
ABLATIONS = {
    "e5 cosine": ["cos", "cos_gap", "cos_psg_max", "cos_top"],
    "e5 cosine in context": ["cos_ctx", "cos_ctx_gap", "cos_ctx_top"],
    "lexical coverage": ["lex", "lex_gap", "lex_ctx", "lex_psg"],
    "bigrams": ["bigram", "bigram_gap"],
    "retrieval rank and scores": ["dense", "dense_missing", "rank_inv", "fused_rel"],
    "position and length": ["len_log", "pos_first", "pos_rel", "is_item", "n_terms", "n_psg"],
}


def _logit(Z: np.ndarray, layers: list[dict[str, Any]]) -> np.ndarray:
    h = Z
    for i, layer in enumerate(layers):
        h = h @ np.asarray(layer["W"]) + np.asarray(layer["b"])
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return np.asarray(h[:, 0])


def _dev_objective(r: dict[str, Any]) -> float:
    """Mean over sources of (answered with an answer in the first three lines, refused)."""
    vals = []
    for figures in r["dev"].values():
        a, f = figures["answered_and_in_top3"], figures["refused"]
        vals.append(np.mean([v for v in (a, f) if v is not None]))
    return float(np.mean(vals))
