"""Regression gate: the starter set's retrieval, answers and refusals must not fall below
eval/baseline.json (offline, over knowledge/ and ../shared/seeds; and its seed and unanswerable
cases over ../shared/seeds alone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.harness import in_process, load_cases, metrics, metrics_by_tag, run_cases

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_starter_set_meets_the_baseline(assistant) -> None:  # type: ignore[no-untyped-def]
    baseline = json.loads((ROOT / "eval" / "baseline.json").read_text(encoding="utf-8"))
    cases = load_cases(ROOT / baseline["testset"])
    assert len(cases) >= 80
    results = run_cases(in_process(assistant), cases)
    got = metrics(results)
    failures = [f"{name}: {got[name]} < baseline {floor}" for name, floor in baseline["min"].items() if got[name] < floor]
    by_tag = metrics_by_tag(results)
    for tag, floors in baseline.get("by_tag", {}).items():
        assert tag in by_tag, f"no case tagged {tag!r} in {baseline['testset']}"
        failures += [f"{tag} {name}: {by_tag[tag][name]} < baseline {floor}"
                     for name, floor in floors.items() if by_tag[tag][name] < floor]
    if failures:
        _fail(failures, results)


@pytest.mark.slow
def test_seed_questions_over_the_seeds_alone(seeds_only_assistant) -> None:  # type: ignore[no-untyped-def]
    baseline = json.loads((ROOT / "eval" / "baseline.json").read_text(encoding="utf-8"))
    gate = baseline["seeds_only"]
    cases = [c for c in load_cases(ROOT / baseline["testset"]) if set(c.tags) & set(gate["tags"])]
    assert len(cases) >= 60
    results = run_cases(in_process(seeds_only_assistant), cases)
    got = metrics(results)
    failures = [f"seeds alone {name}: {got[name]} < baseline {floor}" for name, floor in gate["min"].items()
                if got[name] < floor]
    if failures:
        _fail(failures, results)


def _fail(failures: list[str], results: list) -> None:  # type: ignore[type-arg]
    wrong = [f"  {r.id} {'refused' if r.refused else 'answered'}: {r.question} -> {r.answer[:80]!r}"
             for r in results if not r.correct][:40]
    pytest.fail("quality gate failed:\n" + "\n".join(failures) + "\ncases not correct:\n" + "\n".join(wrong))
