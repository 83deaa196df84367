"""Quick capture against the fictional dictated notes in eval/capture/ (six authors; dev notes
are what the rules were tuned on, the test half is only read here and in the closing report)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.service.visits.capture import draft_record
from eval.capture.score import gates, load, score


def test_the_rules_hold_on_the_notes_they_were_tuned_on() -> None:
    s = score(load("dev"))
    assert s["notes"] >= 200
    assert gates(s) == [], gates(s)


@pytest.mark.xfail(strict=False, reason="issue 17 gate not met yet on the held-out halves (see eval/capture/ablation.md "
                                        "for the figures after each dev-only round)")
def test_the_issues_gate_on_the_held_out_test_half() -> None:
    s = score(load("test"))
    assert s["notes"] == 126  # the even halves of notes.jsonl (36) and notes_set4..6.jsonl (30 each)
    assert gates(s) == [], gates(s)


# (split, urgent recall, negated-only records made 紧急, dates right) as last read (ablation.md, round 6)
@pytest.mark.parametrize(("split", "urgent", "negated_urgent", "dates"), [
    ("test1", 1.0, 1, 0.88), ("test4", 1.0, 1, 0.96), ("test5", 1.0, 0, 0.76), ("test6", 0.83, 1, 0.66)])
def test_the_test_half_is_never_below_what_was_reported(split: str, urgent: float, negated_urgent: int,
                                                        dates: float) -> None:
    """What the closing note reports for each held-out half, as a floor: a change that loses an
    urgent record on unseen notes fails here. test6 (a sixth author) misses 2 of its 12 urgent
    records: reported, not hidden; the issue's bar (every one) is the xfail above."""
    s = score(load(split))
    assert s["urgent_recall"] >= urgent
    assert s["negated_only_urgent"] <= negated_urgent and s["dates_right"] >= dates


@pytest.mark.parametrize(("note", "risk", "signs"), [
    ("去了李阿姨家 没有摔倒 就是腿有点疼", "关注", []),
    ("王老伯 刚才在厨房摔倒了 起不来", "紧急", ["摔倒"]),
    ("怕她摔倒 给她家装了扶手", "正常", []),
])
def test_negation_and_fear(note: str, risk: str, signs: list[str]) -> None:
    d = draft_record(note, dt.date(2026, 12, 1))
    assert d.risk_signs == signs
    assert (d.risk == "紧急") == (risk == "紧急")


def test_a_20000_character_note_is_cut_not_refused() -> None:
    d = draft_record("摔倒" + "啊" * 20000, dt.date(2026, 12, 1))
    assert d.risk == "紧急" and len(d.notes) <= 5000
