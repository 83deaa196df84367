"""Regression gate, read only to report and gate (never tuned on): the test half of the starter set
(cases tagged ``test``) over knowledge/ and ../shared/seeds, its seed and unanswerable test cases
over ../shared/seeds alone, and a fixed sample of each external set's eval questions through the
full chat path (eval/gate/external_sample.json: 40 questions over their gold documents and 160
others), and eval/unseen (four laws nobody on the team read) through chat. Floors are in
eval/baseline.json. The external part adds about five minutes to CI
(ingesting 800 documents, then 160 questions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.settings import Settings
from eval.harness import in_process, load_cases, metrics, metrics_by_tag, run_cases
from eval.runner import external_cases
from tests.conftest import EXTERNAL, MODELS, require_shared

ROOT = Path(__file__).resolve().parent.parent
BASELINE = json.loads((ROOT / "eval" / "baseline.json").read_text(encoding="utf-8"))
SPLIT = BASELINE["split_tag"]


def _test_cases(tags: set[str] | None = None) -> list:  # type: ignore[type-arg]
    cases = [c for c in load_cases(ROOT / BASELINE["testset"]) if SPLIT in c.tags]
    return [c for c in cases if tags is None or set(c.tags) & tags]


def test_the_gate_reads_only_the_test_half() -> None:
    cases = load_cases(ROOT / BASELINE["testset"])
    halves = [{c.id for c in cases if h in c.tags} for h in ("dev", "test")]
    assert halves[0] and halves[1] and not halves[0] & halves[1]
    assert halves[0] | halves[1] == {c.id for c in cases}


@pytest.mark.slow
def test_starter_test_half_meets_the_baseline(assistant) -> None:  # type: ignore[no-untyped-def]
    cases = _test_cases()
    assert len(cases) >= 80
    results = run_cases(in_process(assistant), cases)
    got = metrics(results)
    by_tag = metrics_by_tag(results)
    _record("starter-test", {**got, "by_tag": by_tag})
    failures = [f"{name}: {got[name]} < baseline {floor}" for name, floor in BASELINE["min"].items() if got[name] < floor]
    for tag, floors in BASELINE.get("by_tag", {}).items():
        assert tag in by_tag, f"no test case tagged {tag!r} in {BASELINE['testset']}"
        failures += [f"{tag} {name}: {by_tag[tag][name]} < baseline {floor}"
                     for name, floor in floors.items() if by_tag[tag][name] < floor]
    if failures:
        _fail(failures, results)


@pytest.mark.slow
def test_seed_questions_over_the_seeds_alone(seeds_only_assistant) -> None:  # type: ignore[no-untyped-def]
    gate = BASELINE["seeds_only"]
    cases = _test_cases(set(gate["tags"]))
    assert len(cases) >= 40
    results = run_cases(in_process(seeds_only_assistant), cases)
    got = metrics(results)
    _record("seeds-only-test", got)
    failures = [f"seeds alone {name}: {got[name]} < baseline {floor}" for name, floor in gate["min"].items()
                if got[name] < floor]
    if failures:
        _fail(failures, results)


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.parametrize("name", sorted(BASELINE["external"]["min"]))
def test_external_sample_through_chat(name: str, tmp_path_factory: pytest.TempPathFactory, embedder) -> None:  # type: ignore[no-untyped-def]
    from app.service.factory import build_assistant, build_ingestor
    from eval.gate_sample import SAMPLE, write_docs

    require_shared(EXTERNAL)
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))[name]
    base = tmp_path_factory.mktemp(f"gate-{name}")
    settings = Settings(data_dir=base / "data", models_dir_override=MODELS)
    ing = build_ingestor(settings, embedder)
    report = ing.ingest([write_docs(name, sample["docs"], base / f"{name}.docs.jsonl")])
    ing.manifest.close()
    assert not report.failed and report.added == len(sample["docs"]), report.failed
    wanted = set(sample["questions"])
    cases = [c for c in external_cases(EXTERNAL / f"{name}.eval.jsonl", name) if c.id in wanted]
    assert len(cases) == len(wanted)
    results = run_cases(in_process(build_assistant(settings, embedder)), cases)
    got = metrics(results)
    _record(f"external-{name}", got)
    floors = BASELINE["external"]["min"][name]
    failures = []
    if got["answer_accuracy"] < floors["answer_accuracy"]:
        failures.append(f"{name} answer_accuracy: {got['answer_accuracy']} < baseline {floors['answer_accuracy']}")
    if got["false_refusals"] > floors["max_false_refusals"]:
        failures.append(f"{name} false_refusals: {got['false_refusals']} > baseline {floors['max_false_refusals']}")
    if failures:
        _fail(failures, results)


@pytest.mark.slow
def test_unseen_laws_through_chat(tmp_path_factory: pytest.TempPathFactory, embedder) -> None:  # type: ignore[no-untyped-def]
    """eval/unseen: laws nobody on the team read, questions written by someone who did no tuning."""
    from app.service.factory import build_assistant, build_ingestor

    gate = BASELINE["unseen"]
    settings = Settings(data_dir=tmp_path_factory.mktemp("gate-unseen") / "data", models_dir_override=MODELS)
    ing = build_ingestor(settings, embedder)
    report = ing.ingest([ROOT / gate["docs"]])
    ing.manifest.close()
    assert not report.failed and report.added >= 3, report.failed
    cases = load_cases(ROOT / gate["set"])
    assert sum(c.answerable for c in cases) >= 30 and sum(not c.answerable for c in cases) >= 10
    results = run_cases(in_process(build_assistant(settings, embedder)), cases)
    got = metrics(results)
    _record("unseen", got)
    failures = [f"unseen {name}: {got[name]} < baseline {floor}" for name, floor in gate["min"].items()
                if got[name] < floor]
    if got["false_refusals"] > gate["max_false_refusals"]:
        failures.append(f"unseen false_refusals: {got['false_refusals']} > baseline {gate['max_false_refusals']}")
    if failures:
        _fail(failures, results)


def _record(name: str, got: dict) -> None:  # type: ignore[type-arg]
    """The figures of each gate run, for the evaluators (test-output/quality-gate/NAME.json)."""
    out = ROOT / "test-output" / "quality-gate"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(got, ensure_ascii=False, indent=1), encoding="utf-8")


def _fail(failures: list[str], results: list) -> None:  # type: ignore[type-arg]
    wrong = [f"  {r.id} {'refused' if r.refused else 'answered'}: {r.question} -> {r.answer[:80]!r}"
             for r in results if not r.correct][:40]
    pytest.fail("quality gate failed:\n" + "\n".join(failures) + "\ncases not correct:\n" + "\n".join(wrong))
