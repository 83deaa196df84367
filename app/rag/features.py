"""Features of (question, sentence in its passage) for the learned answer selector.

One function computes them for training (``eval/train_selector/``) and for answering
(``app/rag/select.py``), so the two can never drift apart. A candidate is a sentence of one of the
retrieved passages; its features say how close it is to the question in meaning (the e5 cosine of
question and sentence, alone and under its title and heading), in words (rarity-weighted coverage
of the question's terms, character bigrams), where it stands (rank of its passage, position in it), and
how it compares with the other candidates (gaps to the best cosine and coverage).

>>> names = feature_names()
>>> "cos" in names and "cos_ctx" in names
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.core.sentences import is_list_item, sentences_of
from app.core.types import Hit
from app.rag.answerer import IdfFn, char_bigrams, term_presence
from app.rag.terms import QuestionTerms

# Measured and dropped (development split, 2026-12-01): a feature pair per question type (amount,
# count, date, frequency, place, prohibition, kinds, definition, list, who, yes/no: asked, and the
# sentence holds it or not) changed the development objective by -0.008 when present, a "this
# sentence notes that something is not stated" feature by -0.0015; neither earned its place.

_NAMES = ("cos", "cos_gap", "cos_psg_max", "cos_top", "cos_ctx", "cos_ctx_gap", "cos_ctx_top",
          "dense", "dense_missing", "rank_inv", "fused_rel",
          "lex", "lex_gap", "lex_ctx", "lex_psg", "bigram", "bigram_gap",
          "len_log", "pos_first", "pos_rel", "is_item", "n_terms", "n_psg")


def feature_names() -> list[str]:
    return list(_NAMES)


@dataclass
class Candidate:
    """A sentence of the ``hit_index``-th passage, ``position``-th in it."""

    hit_index: int
    position: int
    text: str


def candidates(hits: Sequence[Hit], max_passages: int) -> list[Candidate]:
    return [Candidate(i, p, s) for i, h in enumerate(hits[:max_passages]) for p, s in enumerate(sentences_of(h.text))]


def _coverage(weights: dict[str, float], text: str) -> float:
    total = sum(weights.values())
    if not total:
        return 1.0
    return sum(w * term_presence(t, text) for t, w in weights.items()) / total


def features(
    terms: QuestionTerms,
    qvec: np.ndarray,
    hits: Sequence[Hit],
    cands: Sequence[Candidate],
    svecs: np.ndarray,
    idf: IdfFn,
    cvecs: np.ndarray | None = None,
) -> np.ndarray:
    """One row per candidate, columns in :func:`feature_names` order. ``svecs``: the candidates'
    unit sentence vectors (rows), ``cvecs``: the same sentences in their title and heading
    (``svecs`` again when not given), ``qvec``: the question's unit vector."""
    names = feature_names()
    out = np.zeros((len(cands), len(names)), dtype=np.float32)
    if not cands:
        return out
    cos = svecs @ qvec
    ctx = (cvecs if cvecs is not None else svecs) @ qvec
    ctx_top = float(ctx.max())
    weights = {t: idf(t) for t in terms.terms}
    qgrams = char_bigrams("".join(terms.terms)) or char_bigrams(terms.text)
    top_score = max((h.score for h in hits), default=1.0) or 1.0
    psg_max: dict[int, float] = {}
    for c, v in zip(cands, cos, strict=True):
        psg_max[c.hit_index] = max(psg_max.get(c.hit_index, -1.0), float(v))
    n_in_psg: dict[int, int] = {}
    for c in cands:
        n_in_psg[c.hit_index] = n_in_psg.get(c.hit_index, 0) + 1
    lex = np.array([_coverage(weights, c.text) for c in cands], dtype=np.float32)
    big = np.array([len(qgrams & char_bigrams(c.text)) / len(qgrams) if qgrams else 0.0 for c in cands],
                   dtype=np.float32)
    ctx_cache: dict[int, tuple[float, float]] = {}
    col = {n: i for i, n in enumerate(names)}
    cos_top = float(cos.max())
    for r, c in enumerate(cands):
        h = hits[c.hit_index]
        if c.hit_index not in ctx_cache:
            ctx_cache[c.hit_index] = (_coverage(weights, f"{h.title} {h.heading}"), _coverage(weights, h.text))
        lex_ctx, lex_psg = ctx_cache[c.hit_index]
        n = n_in_psg[c.hit_index]
        row = out[r]
        row[col["cos"]] = cos[r]
        row[col["cos_gap"]] = cos[r] - cos_top
        row[col["cos_psg_max"]] = psg_max[c.hit_index]
        row[col["cos_top"]] = cos_top
        row[col["cos_ctx"]] = ctx[r]
        row[col["cos_ctx_gap"]] = ctx[r] - ctx_top
        row[col["cos_ctx_top"]] = ctx_top
        row[col["dense"]] = h.dense if h.dense is not None else 0.0
        row[col["dense_missing"]] = 1.0 if h.dense is None else 0.0
        row[col["rank_inv"]] = 1.0 / (1.0 + c.hit_index)
        row[col["fused_rel"]] = h.score / top_score
        row[col["lex"]] = lex[r]
        row[col["lex_gap"]] = lex[r] - lex.max()
        row[col["lex_ctx"]] = lex_ctx
        row[col["lex_psg"]] = lex_psg
        row[col["bigram"]] = big[r]
        row[col["bigram_gap"]] = big[r] - big.max()
        row[col["len_log"]] = math.log1p(len(c.text)) / 5.0
        row[col["pos_first"]] = 1.0 if c.position == 0 else 0.0
        row[col["pos_rel"]] = c.position / (n - 1) if n > 1 else 0.0
        row[col["is_item"]] = 1.0 if is_list_item(c.text) else 0.0
        row[col["n_terms"]] = min(len(terms.terms), 8) / 8.0
        row[col["n_psg"]] = min(n, 20) / 20.0
    return out
