"""When to say “知识库中没有找到”.

A threshold on the top passage's cosine alone separates answerable from unanswerable questions
poorly, because unanswerable questions sit next to real topics (a figure the documents never state).
So the decision also checks that the question's specific terms occur in the evidence (weighted
by how rare they are in the knowledge base) and that the sentences picked as the answer hold the
kind of answer asked for (an amount, a date, a count). It also refuses when the chosen sentence
about what is asked is the knowledge base's own note that the figure, date or list is not stated
("初级证书奖励多少，报道没有写"). Attempts to make the assistant ignore its instructions or reveal
its prompt, and requests for residents' personal data in bulk, are refused the same way.
Thresholds are calibrated on the starter test set (eval/calibrate_refusal.py) and recorded in
``RefusalConfig``'s defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.rag.answerer import Draft, IdfFn, flat_idf, is_list_item, term_presence
from app.rag.retriever import Hit
from app.rag.terms import EVIDENCE_FOR_KIND, QuestionTerms, has_evidence_for_kind

_INJECTION = re.compile(
    r"忽略(?:之前|以上|前面|上面|所有|全部|你的)|無視|忽略.{0,6}(?:指令|规则|規則|提示|设定)|(?:系统|系統)?提示[词詞]|"
    r"system\s*prompt|ignore (?:all |any )?(?:previous|prior|above)|developer mode|jailbreak|"
    r"管理员模式|開發者模式|开发者模式|不受(?:任何)?限制|扮演|你现在是|你現在是|越狱|"
    r"(?:输出|打印|列出|告诉我|泄露).{0,12}(?:配置|密钥|API|api|身份证号|手机号|全部文档|原始文档)|"
    r"^\s*SYSTEM\s*[:：]|当作知识库|當作知識庫",
    re.IGNORECASE,
)
# Residents' personal data asked for in bulk ("把所有居民的姓名、身份证号列出来"): never answered.
_BULK_PERSONAL = re.compile(
    r"(?:所有|全部|全体|每个|每位|每一位|整个|一批)(?:的)?.{0,4}(?:居民|老人|住户|家庭|人员|人|残疾人|低保户).{0,16}"
    r"(?:姓名|名字|身份证|手机|电话|住址|地址|门牌|银行卡)"
)
_HAND_OVER = re.compile(r"列出|导出|发给|发我|给我|告诉我|查出|打印|整理出|汇总|提供|输出|查一下|调出")
# The knowledge base's notes that a source does not state something ("具体条件报道未写").
_NOT_STATED = re.compile(r"(?:未|没有|没)(?:公布|写明|写|列出|载明|注明|介绍|说明|提及|给出|披露)")
_SPECIFIC_KINDS = ("amount", "count", "date", "list")
# ...unless the note says only the rest is missing ("等6个部门（报道没有列出其余4个部门）"): a partial answer.
_PARTIAL = re.compile(r"其余|其他|另外|剩余|剩下|之外")
# A note about a figure or date does not answer a question asking for something else: "哪些情况
# 可以拿奖励" is answered by a list that ends "（报道没有给出各项奖励的具体金额）".
_NOTE_OBJECT = {"amount": re.compile(r"金额|数额|多少钱|钱数"), "date": re.compile(r"日期|何时|什么时候")}
# Items named one after another: "居民区社工、街镇中心社工和镇管社区社工", "一是……二是……".
_ENUMERATION = re.compile(r"[^、，。；]{1,24}、[^、，。；]{1,24}(?:、|和|及|与|以及)|；|一是|（一）|第一")
# How a note names the figure or date it says is missing ("印发日期……未写明", "奖励多少，报道没有写").
_KIND_NOUNS = {
    "amount": re.compile(r"金额|多少|标准|数额"),
    "count": re.compile(r"人数|比例|数量|多少|几"),
    "date": re.compile(r"日期|时间|何时|哪天|哪一天"),
}


@dataclass(frozen=True)
class RefusalConfig:
    # Calibrated on eval/sets/starter.jsonl with the e5 (sentence-transformers) vectors, see
    # eval/calibrate_refusal.py: 123/124 answerable answered, 12/19 unanswerable refused (plus all 7
    # injections by pattern). Cosines from 0.80 to 0.86 tie there (0.90 refuses 2 more unanswerable
    # questions but 13 answerable ones). Over ../shared/seeds alone (session 4) the closest pair is
    # an unanswerable question at 0.838 and an answerable one at 0.848 (seed-001-13, refused at
    # 0.85); 0.843 is midway, and the combined knowledge base has no case between 0.80 and 0.855.
    min_cosine: float = 0.843  # top passage's cosine below this: refuse
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
    stated_absent: tuple[int, str] | None = None  # (hit index, sentence) saying the sources do not state it


def is_injection(question: str) -> bool:
    return bool(_INJECTION.search(question))


def asks_personal_data(question: str) -> bool:
    return bool(_BULK_PERSONAL.search(question) and _HAND_OVER.search(question))


def stated_absent(terms: QuestionTerms, draft: Draft | None, idf: IdfFn = flat_idf) -> tuple[int, str] | None:
    """The draft sentence that says the sources do not state what is asked, when the question wants
    a figure, date or list. The note must be about the question: it matches the question best of
    all chosen sentences, or alone holds some of its terms ("初级" in "初级证书奖励多少，报道没有写",
    while the other sentences give the amount for 中级), or names the kind of thing asked
    ("印发日期……报道未写明" for "哪一天印发的")."""
    if draft is None or not draft.sentences or terms.kind not in _SPECIFIC_KINDS:
        return None
    scored = [(coverage(terms.terms, s, idf), i, s, _NOT_STATED.search(s)) for i, s in draft.sentences]
    best = max(c for c, _, _, _ in scored)
    others = " ".join(s for _, _, s, note in scored if note is None)
    for c, i, s, note in scored:
        if c <= 0 or note is None:
            continue
        near = s[max(0, note.start() - 12) : note.end() + 12]
        if _PARTIAL.search(near) or any(k != terms.kind and p.search(near) for k, p in _NOTE_OBJECT.items()):
            continue
        if terms.kind in EVIDENCE_FOR_KIND and has_evidence_for_kind(terms.kind, s):
            continue  # the note comes with the figure or date itself ("暂以表决通过日（2024年4月28日）作为近似")
        if (
            c >= best
            or any(t in s and t not in others for t in terms.terms)
            or (terms.kind in _KIND_NOUNS and _KIND_NOUNS[terms.kind].search(near))
        ):
            return i, s
    return None


def enumerates(draft: Draft) -> bool:
    """Whether the chosen sentences name items: an enumeration within one sentence, or two list
    items of the same passage. "明确了8项不合格的筛选标准" counts them but names none."""
    if any(_ENUMERATION.search(s) for _, s in draft.sentences):
        return True
    per_passage: dict[int, int] = {}
    for i, s in draft.sentences:
        if is_list_item(s):
            per_passage[i] = per_passage.get(i, 0) + 1
    return any(n >= 2 for n in per_passage.values())


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
    if asks_personal_data(question):
        return Assessment(True, "personal_data", 0.0, 0.0, 0.0, False, True)
    if not hits:
        return Assessment(True, "no_hits", 0.0, 0.0, 0.0, False, False)
    top_cos = max((h.dense or 0.0) for h in hits[: cfg.evidence_passages])
    evidence = "\n".join(f"{h.title} {h.heading} {h.text}" for h in hits[: cfg.evidence_passages])
    cov = coverage(terms.terms, evidence, idf)
    chosen = " ".join(s for _, s in draft.sentences) if draft else ""
    match = coverage(terms.terms, chosen, idf) if chosen else 0.0
    kind_ok = has_evidence_for_kind(terms.kind, chosen) if chosen else False
    focus = terms.focus
    if focus and terms.kind in ("amount", "count", "date") and draft and draft.sentences:
        # the thing asked about must stand in an answer sentence that also holds the kind of answer,
        # or head the passage that sentence comes from ("时间与场合：2024年4月28日" under a title
        # about the 集体合同)
        def about_focus(i: int, s: str) -> bool:
            head = f"{hits[i].title} {hits[i].heading}" if i < len(hits) else ""
            return max(term_presence(focus, s), term_presence(focus, head)) >= 0.8

        kind_ok = any(about_focus(i, s) and has_evidence_for_kind(terms.kind, s) for i, s in draft.sentences)
    if terms.items and draft and draft.sentences and not enumerates(draft):
        kind_ok = False  # "是哪8项" asks for the items, not that there are eight
    a = Assessment(False, "", cov, top_cos, match, kind_ok, False)
    if top_cos < cfg.min_cosine:
        a.refuse, a.reason = True, "low_similarity"
    elif cov < cfg.min_coverage:
        a.refuse, a.reason = True, "terms_missing"
    elif match < cfg.min_answer_match:
        a.refuse, a.reason = True, "no_answer_sentence"
    elif not kind_ok:
        a.refuse, a.reason = True, f"no_{terms.kind}_in_evidence"
    elif (absent := stated_absent(terms, draft, idf)) is not None:
        a.refuse, a.reason, a.stated_absent = True, "stated_absent", absent
    return a
