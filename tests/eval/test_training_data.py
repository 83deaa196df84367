"""The answer selector's own training questions (eval/train_laws/, eval/sets/train_own.jsonl) are
well formed: an answerable question's evidence and keywords are in its document, ids are unique,
and the development split of the laws goes by document (a dev law is one the model never saw)."""

from __future__ import annotations

import re
from pathlib import Path

from eval.harness import load_cases
from eval.train_selector import LAWS, Question, is_dev, pool_key


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_law_question_points_into_its_document() -> None:
    docs = {p.stem: _squash(p.read_text(encoding="utf-8")) for p in (LAWS / "docs").glob("*.md")}
    files = sorted(LAWS.glob("questions*.jsonl"))
    assert files and len(docs) >= 5
    cases = [c for f in files for c in load_cases(f)]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate question ids"
    problems = []
    for c in cases:
        assert "train-laws" in c.tags, c.id
        slug = next((t for t in c.tags if t in docs), None)
        if not c.answerable:
            assert not c.evidence, c.id
            continue
        if slug is None:
            problems.append(f"{c.id}: no document tag")
            continue
        for s in [*c.evidence, *c.answer_keywords]:
            if _squash(s) not in docs[slug]:
                problems.append(f"{c.id}: {s!r} not in {slug}.md")
    assert not problems, problems[:10]
    # the split by document leaves whole laws out of training
    dev_laws = sorted(s for s in docs if is_dev(s))
    assert dev_laws and len(dev_laws) < len(docs)


def test_changed_questions_are_collected_again() -> None:
    q = Question("a", "laws", "x", "残疾分哪几类？", [], ["视力残疾"], [], True)
    same = Question("a", "laws", "x", "残疾分哪几类？", [], ["视力残疾"], [], True)
    edited = Question("a", "laws", "x", "残疾分为哪几类？", [], ["视力残疾"], [], True)
    assert pool_key([q]) == pool_key([same])
    assert pool_key([q]) != pool_key([edited])
    assert pool_key([q]) != pool_key([q, same])


def test_training_laws_are_not_the_unseen_test_laws() -> None:
    unseen = Path(__file__).resolve().parents[2] / "eval" / "unseen" / "docs"
    titles = {re.search(r"^title:\s*(.+)$", p.read_text(encoding="utf-8"), re.M).group(1).strip()  # type: ignore[union-attr]
              for p in unseen.glob("*.md")}
    for p in (LAWS / "docs").glob("*.md"):
        m = re.search(r"^title:\s*(.+)$", p.read_text(encoding="utf-8"), re.M)
        assert m and m.group(1).strip() not in titles, p.name


def test_the_asked_rule_in_training_figures_is_the_select_stages() -> None:
    """Question-level scores with the asked rule keep, of a question's three best rows, those whose
    sentence holds what it asks (as app/rag/pipeline/select.py keep_asked does); none: best -1."""
    import numpy as np

    from eval.train_selector.fit import question_scores
    from eval.train_selector.threshold import sentence_of

    p = np.array([0.9, 0.5, 0.4, 0.3, 0.8, 0.2])
    y = np.array([0, 1, 0, 1, 1, 0])
    q = np.array([0, 0, 0, 0, 1, 1])
    plain = question_scores(p, y, q, 2)
    assert plain[0].tolist() == [0.9, 0.8] and plain[2].tolist() == [True, True]
    holds = np.array([False, True, False, True, False, False])
    best, best_pos, top3 = question_scores(p, y, q, 2, (np.array([True, True]), holds, 3))
    assert best.tolist() == [0.5, -1.0]  # question 0 keeps its second row; the fourth is past the top three
    assert best_pos.tolist() == [True, False] and top3.tolist() == [True, False]
    assert sentence_of("慈善法 > 第三章：每年公布一次。") == "每年公布一次。"
    assert sentence_of("第一句，注意：带上证件。") == "第一句，注意：带上证件。"
