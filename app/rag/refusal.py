"""When to say “知识库中没有找到”.

A threshold on the top passage's cosine alone separates answerable from unanswerable questions
poorly, because unanswerable questions sit next to real topics (a figure the documents never state).
So the decision also checks that the question's specific terms occur in the evidence (weighted
by how rare they are in the knowledge base) and that the sentences picked as the answer hold the
kind of answer asked for (an amount, a date, a count). Attempts to make the assistant ignore its
instructions or reveal its prompt are refused the same way. Thresholds are calibrated on the
starter test set (eval/calibrate_refusal.py) and recorded in ``RefusalConfig``'s defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.rag.answerer import Draft, IdfFn, flat_idf, term_presence
from app.rag.retriever import Hit
from app.rag.terms import QuestionTerms, has_evidence_for_kind

_INJECTION = re.compile(
    r"忽略(?:之前|以上|前面|上面|所有|全部|你的)|無視|忽略.{0,6}(?:指令|规则|規則|提示|设定)|(?:系统|系統)?提示[词詞]|"
    r"system\s*prompt|ignore (?:all |any )?(?:previous|prior|above)|developer mode|jailbreak|"
    r"管理员模式|開發者模式|开发者模式|不受(?:任何)?限制|扮演|你现在是|你現在是|越狱|"
    r"(?:输出|打印|列出|告诉我|泄露).{0,12}(?:配置|密钥|API|api|身份证号|手机号|全部文档|原始文档)|"
    r"^\s*SYSTEM\s*[:：]|当作知识库|當作知識庫",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RefusalConfig:
    # Calibrated on eval/sets/starter.jsonl with the e5 (sentence-transformers) vectors, see
    # eval/calibrate_refusal.py: 123/124 answerable answered, 12/19 unanswerable refused (plus all 7
    # injections by pattern). Cosines from 0.80 to 0.86 tie; 0.85 keeps a margin on both sides
    # (0.90 refuses 2 more unanswerable questions but 13 answerable ones).
    min_cosine: float = 0.85  # top passage's cosine below this: refuse
    min_coverage: float = 0.4  # share (by rarity) of the question's specific terms found in the evidence
    min_answer_match: float = 0.0  # the chosen sentences' own match to the question (no gain on the set)
    evidence_passages: int = 3


@dataclass
class Assessment:
    refuse: bool
    reason: str
    coverage: float
    top_cosine: float
    answer_match: float
    kind_ok: bool
    injection: bool


def is_injection(question: str) -> bool:
    return bool(_INJECTION.search(question))


def coverage(terms: Sequence[str], text: str, idf: IdfFn = flat_idf) -> float:
    """Rarity-weighted share of ``terms`` present in ``text`` (1.0 when there are no terms)."""
    if not terms:
        return 1.0
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values())
    return sum(w * term_presence(t, text) for t, w in weights.items()) / total if total else 1.0


def assess(
    question: str,
    terms: QuestionTerms,
    hits: Sequence[Hit],
    draft: Draft | None,
    cfg: RefusalConfig,
    idf: IdfFn = flat_idf,
) -> Assessment:
    """Decide whether the evidence answers the question."""
    if is_injection(question):
        return Assessment(True, "injection", 0.0, 0.0, 0.0, False, True)
    if not hits:
        return Assessment(True, "no_hits", 0.0, 0.0, 0.0, False, False)
    top_cos = max((h.dense or 0.0) for h in hits[: cfg.evidence_passages])
    evidence = "\n".join(f"{h.title} {h.heading} {h.text}" for h in hits[: cfg.evidence_passages])
    cov = coverage(terms.terms, evidence, idf)
    chosen = " ".join(s for _, s in draft.sentences) if draft else ""
    match = coverage(terms.terms, chosen, idf) if chosen else 0.0
    kind_ok = has_evidence_for_kind(terms.kind, chosen) if chosen else False
    if terms.focus and terms.kind in ("amount", "count", "date") and draft and draft.sentences:
        # the thing asked about must stand in an answer sentence that also holds the kind of answer
        kind_ok = any(term_presence(terms.focus, s) >= 0.8 and has_evidence_for_kind(terms.kind, s)
                      for _, s in draft.sentences)
    a = Assessment(False, "", cov, top_cos, match, kind_ok, False)
    if top_cos < cfg.min_cosine:
        a.refuse, a.reason = True, "low_similarity"
    elif cov < cfg.min_coverage:
        a.refuse, a.reason = True, "terms_missing"
    elif match < cfg.min_answer_match:
        a.refuse, a.reason = True, "no_answer_sentence"
    elif not kind_ok:
        a.refuse, a.reason = True, f"no_{terms.kind}_in_evidence"
    return a
