"""问数 against the three hand-written question sets (eval/askdata), on SQLite and PostgreSQL: the dev
halves it was tuned on, a floor at what the closing note reports for the held-out halves, and the
issue's bar on them (not met yet, so marked xfail; eval/askdata/ablation.md has the rounds)."""

from __future__ import annotations

from typing import Any

import pytest

from eval.askdata.score import run

# what was read once per round on the held-out halves (eval/askdata/ablation.md): right, wrong
# set 2 lost one (26 right, 11 -> 12 wrong) in round 3, which was tuned on set 3's dev half only
REPORTED = {"1": (52, 3), "2": (26, 12), "3": (30, 8)}


def _overall(split: str, question_set: str, url: str) -> dict[str, Any]:
    report, _ = run(split, None if url.startswith("sqlite") else url, question_set=question_set)
    return dict(report.summary()["counts"]["overall"])


@pytest.mark.parametrize("question_set", ["1", "2", "3"])
def test_the_dev_halves_it_was_tuned_on(records_url: str, question_set: str) -> None:
    c = _overall("dev", question_set, records_url)
    assert c["wrong"] == 0 and c["declined"] == 0 and c["right"] == c["n"], c


@pytest.mark.parametrize("question_set", ["1", "2", "3"])
def test_the_test_halves_never_fall_below_what_was_reported(question_set: str) -> None:
    c = _overall("test", question_set, "sqlite")
    right, wrong = REPORTED[question_set]
    assert c["right"] >= right and c["wrong"] <= wrong, c


@pytest.mark.xfail(reason="issue 18 bar not met on the held-out halves (eval/askdata/ablation.md)", strict=True)
def test_the_issues_bar_on_the_held_out_halves() -> None:
    for question_set in ("1", "2", "3"):
        c = _overall("test", question_set, "sqlite")
        assert c["right"] >= 0.9 * c["n"] and c["wrong"] == 0, (question_set, c)
