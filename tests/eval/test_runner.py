"""The evaluators' runner: external-set conversion, report rendering, and ``shegong eval`` end to
end in process (real embedder, a tiny knowledge dir, cases chosen from the starter set)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from app.core.settings import Settings
from eval.cli import eval_cmd
from eval.harness import Case, load_cases, score_case, squash
from eval.report import render_report
from eval.runner import compare_runs, load_testset, recall_curve, resolve_testset

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE_FILES = ("guides/household-visit-preparation.md", "policies/pudong-shegong-15.md", "guides/certificates.md")


# ------------------------------------------------------------------------------------------------
# External sets


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_an_external_set_becomes_cases_scored_by_gold_doc_and_reference_answer(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "mini.eval.jsonl", [
        {"id": "q1", "question": "补贴标准是多少？", "answers": ["每月 300 元", "300元/月"], "gold_doc_ids": ["d2"]},
        {"id": "q2", "question": "谁负责？", "answers": ["街道办事处"], "gold_doc_ids": ["d9", "d3"]},
    ])
    ts = load_testset(path)
    assert (ts.kind, ts.name, len(ts.cases)) == ("external", "mini", 2)
    c1, c2 = ts.cases
    assert c1.gold_doc_ids == ["d2"] and c1.reference_answers == ["每月 300 元", "300元/月"]
    assert c1.answer_keywords == [] and c1.evidence == [] and c1.answerable and c1.tags == ["mini"]
    assert c2.gold_doc_ids == ["d9", "d3"]

    hits = [{"doc_id": "d1", "title": "a", "text": "x"}, {"doc_id": "d2", "title": "b", "text": "y"}]
    # any one reference answer, compared without spaces and punctuation
    right = score_case(c1, hits, {"answer": "按规定，每月300元。", "refused": False, "mode": "extractive"}, 5.0)
    assert right.correct and right.first_relevant_rank == 2 and right.reference_answers == c1.reference_answers
    wrong = score_case(c1, hits, {"answer": "每月200元", "refused": False, "mode": "extractive"}, 5.0)
    assert not wrong.correct
    refused = score_case(c1, hits, {"answer": "每月300元", "refused": True, "mode": "extractive"}, 5.0)
    assert not refused.correct
    miss = score_case(c2, hits, {"answer": "街道办事处", "refused": False, "mode": "extractive"}, 5.0)
    assert miss.correct and miss.first_relevant_rank is None
    # a citation counts when it is a chunk of a gold document
    cited = score_case(c2, hits, {"answer": "街道办事处", "refused": False, "mode": "x",
                                  "citations": [{"doc_id": "d3", "text": ""}]}, 1.0)
    assert cited.citation_ok is True


def test_own_sets_keep_the_harness_format_and_short_names_resolve(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    starter = ROOT / "eval" / "sets" / "starter.jsonl"
    ts = load_testset(starter)
    assert ts.kind == "own" and len(ts.cases) == len(load_cases(starter))
    assert all(not c.reference_answers for c in ts.cases)
    assert resolve_testset("starter") == starter

    ext = tmp_path / "shared" / "external"
    ext.mkdir(parents=True)
    _write_jsonl(ext / "tiny.eval.jsonl", [{"id": "1", "question": "q", "answers": ["a"], "gold_doc_ids": ["g"]}])
    monkeypatch.setenv("SHEGONG_SHARED_DIR", str(tmp_path / "shared"))
    assert resolve_testset("tiny") == ext / "tiny.eval.jsonl"
    with pytest.raises(FileNotFoundError):
        resolve_testset("no-such-set")


def test_an_old_case_without_reference_answers_is_scored_as_before() -> None:
    case = Case(id="x", question="q", evidence=["居委会联系卡"], answer_keywords=["联系卡", "工作证"])
    hit = {"doc_id": "d", "text": "要带好：居委会联系卡、工作证。"}
    ok = score_case(case, [hit], {"answer": "带上联系卡和工作证", "refused": False, "mode": "extractive"}, 1.0)
    partial = score_case(case, [hit], {"answer": "带上联系卡", "refused": False, "mode": "extractive"}, 1.0)
    assert ok.correct and not partial.correct and ok.first_relevant_rank == 1


# ------------------------------------------------------------------------------------------------
# The report on its own


def _fake_run(question: str) -> dict[str, Any]:
    case = {"id": "c<1>", "question": question, "tags": ["政策", "<tag>"], "answerable": True,
            "first_relevant_rank": None, "refused": False, "correct": False, "citation_ok": False,
            "answer": "答：<img src=x onerror=alert(1)>", "mode": "extractive",
            "retrieved": [{"doc_id": "d&1", "title": "<i>标题</i>", "text": "片段 <script>"}],
            "latency_ms": 12.0, "expected_evidence": ["证据 & 关键"], "reason": "", "reference_answers": []}
    m = {"cases": 1, "answerable": 1, "unanswerable": 0, "recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0,
         "mrr@10": 0.0, "answer_accuracy": 0.0, "latency_ms_p50": 12.0, "latency_ms_p95": 12.0}
    return {"config": {"set": "t<x>", "testset": "t.jsonl", "cases": 1, "mode": "in-process", "docs": ["k"]},
            "metrics": m, "by_tag": {"政策": m, "<tag>": m}, "recall_curve": [0.0] * 10, "cases": [case],
            "naive": None, "notes": ["注意 <b>"]}


def test_the_report_escapes_every_text_and_embeds_its_plots() -> None:
    html = render_report(_fake_run("<script>alert('q')</script> 问题"))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<i>标题</i>" not in html and "注意 &lt;b&gt;" in html
    assert "d&amp;1" in html and "证据 &amp; 关键" in html
    assert len(re.findall(r'<img alt=[^>]*src=.data:image/png;base64,[A-Za-z0-9+/=]{200,}', html)) == 3
    assert 'id="summary"' in html
    assert not _external_refs(html) and "http://" not in html and "https://" not in html


def test_the_templates_escape_untrusted_text_in_every_section_and_in_the_index(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from eval.report import write_index

    bad = "<x-evil a=\"1\" b='2'>&"
    escaped = "&lt;x-evil a=&quot;1&quot; b=&#x27;2&#x27;&gt;&amp;"
    data = _fake_run(bad)
    data["config"].update(set=bad, mode=bad, git_commit=bad, docs=[bad])
    data["cases"][0].update(id=bad, tags=[bad], answer_keywords=[bad], reason=bad, answer=bad,
                            retrieved=[{"doc_id": bad, "title": bad, "text": bad}])
    data["compare"] = {"old_dir": bad, "old_config": {"timestamp": bad, "git_commit": bad, "cases": bad},
                       "fixed": 0, "broken": 1, "metrics": {}, "naive_metrics": {}, "only_new": [bad], "only_old": [],
                       "changed": [{"id": bad, "question": bad, "new_answer": bad, "old_correct": True, "new_correct": False,
                                    "old_refused": False, "new_refused": False, "old_rank": 1, "new_rank": None}]}
    # a caption goes into an attribute; the plots themselves are not what this test is about
    monkeypatch.setattr("eval.plots.report_plots", lambda data, codes: [(bad, "AAAA")])
    monkeypatch.chdir(tmp_path)  # the templates are found beside the module, not from the working directory
    html = render_report(data)
    assert "<x-evil" not in html and html.count(escaped) >= 20
    assert f"<img alt='{escaped}' src='data:image/png;base64,AAAA'>" in html

    run = tmp_path / "eval" / "runs" / "20260101T000000Z-a'b<c>"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"config": {"set": bad, "git_commit": bad}, "metrics": {}}),
                                      encoding="utf-8")
    index = write_index(tmp_path / "eval").read_text(encoding="utf-8")
    assert "<x-evil" not in index and index.count(escaped) == 2
    assert "href='runs/20260101T000000Z-a&#x27;b&lt;c&gt;/report.html'" in index


def _external_refs(html: str) -> list[str]:
    """URLs a browser would fetch: script/link/img sources and style imports."""
    refs = re.findall(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    refs += re.findall(r"@import|url\(\s*['\"]?https?:", html, re.I)
    return refs + re.findall(r"<script\b", html, re.I)


def test_compare_reports_metric_differences_and_changed_cases() -> None:
    def run(correct: list[bool], ranks: list[int | None]) -> dict[str, Any]:
        cases = [{"id": f"c{i}", "question": f"q{i}", "correct": c, "first_relevant_rank": r, "answer": "",
                  "refused": False} for i, (c, r) in enumerate(zip(correct, ranks, strict=True))]
        acc = sum(correct) / len(correct)
        return {"metrics": {"answer_accuracy": acc, "latency_ms_p50": 10.0}, "cases": cases, "config": {}}

    old = run([True, True, False, False], [1, 2, None, 7])
    new = run([True, False, True, False], [1, 2, 3, 7])
    cmp = compare_runs(new, old, Path("/old"))
    assert cmp["metrics"]["answer_accuracy"] == {"old": 0.5, "new": 0.5, "delta": 0.0}
    assert {c["id"] for c in cmp["changed"]} == {"c1", "c2"}
    assert (cmp["fixed"], cmp["broken"]) == (1, 1)


def test_recall_curve_counts_answerable_cases_only() -> None:
    from eval.harness import CaseResult

    def r(rank: int | None, answerable: bool = True) -> CaseResult:
        return CaseResult("i", "q", [], answerable, rank, False, False, None, "", "x", [], 1.0, [])

    curve = recall_curve([r(1), r(3), r(None), r(None, answerable=False)])
    assert len(curve) == 10 and curve[0] == pytest.approx(1 / 3, abs=1e-4) and curve[2] == pytest.approx(2 / 3, abs=1e-4)
    assert curve == sorted(curve)


# ------------------------------------------------------------------------------------------------
# End to end, in process


class _Obj:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def _cli(settings: Settings) -> click.Group:
    @click.group()
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = _Obj(settings)

    group.add_command(eval_cmd)
    return group


@pytest.fixture
def small_set(tmp_path: Path) -> tuple[Path, Path]:
    """A knowledge dir of three files and ten starter cases about them (eight answerable, two not)."""
    kn = tmp_path / "kn"
    texts = []
    for rel in KNOWLEDGE_FILES:
        dest = kn / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "knowledge" / rel, dest)
        texts.append(squash(dest.read_text(encoding="utf-8")))
    cases = load_cases(ROOT / "eval" / "sets" / "starter.jsonl")
    covered = [c for c in cases if c.answerable and c.evidence and not c.history
               and any(squash(e) in t for e in c.evidence for t in texts)]
    unanswerable = [c for c in cases if not c.answerable][:2]
    chosen = covered[:8] + unanswerable
    assert len(covered) >= 8, "the starter set should hold eight cases about these knowledge files"
    rows = [json.loads(line) for line in (ROOT / "eval" / "sets" / "starter.jsonl").read_text().splitlines() if line]
    by_id = {r["id"]: r for r in rows}
    testset = _write_jsonl(tmp_path / "small.jsonl", [by_id[c.id] for c in chosen])
    return testset, kn


@pytest.mark.slow
def test_eval_command_runs_end_to_end_and_compares(tmp_path: Path, small_set: tuple[Path, Path], embedder,  # type: ignore[no-untyped-def]
                                                   monkeypatch) -> None:
    testset, kn = small_set
    monkeypatch.setattr("app.service.factory.build_embedder", lambda settings: embedder)
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=ROOT / "knowledge",
                        models_dir_override=Path(os.environ["SHEGONG_MODELS_DIR"]))
    cli = _cli(settings)

    out1 = tmp_path / "run1"
    result = CliRunner().invoke(cli, ["eval", str(testset), "--docs", str(kn), "--out", str(out1), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    data = json.loads((out1 / "metrics.json").read_text(encoding="utf-8"))
    assert printed["metrics"] == data["metrics"]

    m = data["metrics"]
    assert (m["cases"], m["answerable"], m["unanswerable"]) == (10, 8, 2)
    for key in ("recall@1", "recall@5", "recall@10", "mrr@10", "answer_accuracy", "refusal_accuracy"):
        assert 0.0 <= m[key] <= 1.0, key
    assert m["recall@1"] <= m["recall@5"] <= m["recall@10"]
    assert m["recall@10"] > 0, "the evidence is in the knowledge dir: something must be found"
    assert m["latency_ms_p50"] > 0
    assert [c["id"] for c in data["cases"]] == [json.loads(x)["id"] for x in testset.read_text().splitlines()]
    assert set(data["by_tag"]) == {t for c in data["cases"] for t in c["tags"]}
    assert len(data["recall_curve"]) == 10 and data["recall_curve"] == sorted(data["recall_curve"])
    assert data["recall_curve"][4] == m["recall@5"]
    cfg = data["config"]
    assert cfg["mode"] == "in-process" and cfg["docs"] == [str(kn)] and cfg["embed_model"] == embedder.model_id
    assert cfg["cases"] == 10 and cfg["duration_s"] > 0 and cfg["timestamp"] and "git_commit" in cfg
    ingest = cfg["knowledge_base"]["ingest"]
    assert ingest["added"] == len(KNOWLEDGE_FILES) and ingest["failed_count"] == 0 and ingest["chunks_embedded"] > 0

    naive = data["naive"]
    assert naive is not None and naive["metrics"]["cases"] == 10
    assert 0.0 <= naive["metrics"]["recall@5"] <= 1.0 and naive["metrics"]["recall@10"] > 0
    assert naive["metrics"]["refusal_recall"] == 0.0  # the reference never refuses
    assert all(len(c["answer"]) <= 300 and not c["refused"] for c in naive["cases"])
    assert naive["config"]["chunk_size"] == 1000 and naive["config"]["docs"] == len(KNOWLEDGE_FILES)
    assert naive["config"]["build"]["embedded"] == naive["config"]["build"]["chunks"] > 0

    html = (out1 / "report.html").read_text(encoding="utf-8")
    assert 'id="summary"' in html and "朴素参照" in html
    assert html.count("data:image/png;base64,") >= 3
    assert not _external_refs(html)
    wrong = [c for c in data["cases"] if not c["correct"]]
    for c in wrong:
        assert f">{c['id']}<" in html

    # A second run over a changed set: one case that was right now asks for a word no answer holds,
    # and one case's evidence no longer exists. The knowledge base and naive vectors are reused.
    right = [c for c in data["cases"] if c["correct"] and c["answerable"]]
    hit = [c for c in data["cases"] if c["answerable"] and c["first_relevant_rank"] and c["first_relevant_rank"] <= 5
           and c["id"] not in {r["id"] for r in right[:1]}]
    assert right and hit, "the project should answer at least one of these cases"
    rows = [json.loads(x) for x in testset.read_text().splitlines()]
    for r in rows:
        if r["id"] == right[0]["id"]:
            r["answer_keywords"] = [*r["answer_keywords"], "绝不会出现的词"]
        if r["id"] == hit[0]["id"]:
            r["evidence"] = ["这段证据并不存在于任何文档"]
    changed_set = _write_jsonl(tmp_path / "small.jsonl", rows)
    out2 = tmp_path / "run2"
    result = CliRunner().invoke(cli, ["eval", str(changed_set), "--docs", str(kn), "--out", str(out2),
                                      "--compare", str(out1)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    data2 = json.loads((out2 / "metrics.json").read_text(encoding="utf-8"))
    assert data2["config"]["knowledge_base"]["ingest"]["chunks_embedded"] == 0
    assert data2["config"]["knowledge_base"]["ingest"]["unchanged"] == len(KNOWLEDGE_FILES)
    assert data2["naive"]["config"]["build"]["embedded"] == 0
    cmp = data2["compare"]
    changed = {c["id"]: c for c in cmp["changed"]}
    assert changed[right[0]["id"]]["old_correct"] and not changed[right[0]["id"]]["new_correct"]
    assert changed[hit[0]["id"]]["old_rank"] == hit[0]["first_relevant_rank"]
    assert changed[hit[0]["id"]]["new_rank"] is None
    acc = cmp["metrics"]["answer_accuracy"]
    assert acc["delta"] == pytest.approx(data2["metrics"]["answer_accuracy"] - m["answer_accuracy"], abs=1e-4)
    assert acc["delta"] < 0 and cmp["broken"] >= 1
    html2 = (out2 / "report.html").read_text(encoding="utf-8")
    assert "id='changed'" in html2 and right[0]["id"] in html2 and hit[0]["id"] in html2
    assert "与上次运行对比" in html2 and not _external_refs(html2)

    # --tag keeps the cases carrying that tag; a tag no case carries is a clean error
    out3 = tmp_path / "run3"
    result = CliRunner().invoke(cli, ["eval", str(testset), "--docs", str(kn), "--out", str(out3), "--no-naive",
                                      "--tag", "unanswerable"])
    assert result.exit_code == 0, result.output
    data3 = json.loads((out3 / "metrics.json").read_text(encoding="utf-8"))
    assert data3["config"]["tags"] == ["unanswerable"] and data3["metrics"]["cases"] == 2
    assert {c["id"] for c in data3["cases"]} == {c["id"] for c in data["cases"] if not c["answerable"]}
    result = CliRunner().invoke(cli, ["eval", str(testset), "--docs", str(kn), "--no-naive", "--tag", "no-such-tag"])
    assert result.exit_code != 0 and "no cases tagged no-such-tag" in result.output


def test_eval_command_reports_a_missing_set_as_a_clean_error(tmp_path: Path) -> None:
    cli = _cli(Settings(data_dir=tmp_path / "data"))
    result = CliRunner().invoke(cli, ["eval", "no-such-set", "--no-naive"])
    assert result.exit_code != 0 and "not found" in result.output


def test_the_index_lists_runs_newest_first_and_make_eval_finds_the_previous_run(tmp_path: Path) -> None:
    from eval.make_eval import previous_run
    from eval.report import write_index

    runs = tmp_path / "eval" / "runs"

    def run(stamp: str, name: str, cases: int, recall: float, testset: str = "sets/x.jsonl") -> Path:
        d = runs / f"{stamp}-{name}"
        d.mkdir(parents=True)
        data = {"config": {"set": name, "testset": testset, "cases": cases, "duration_s": 3.0},
                "metrics": {"cases": cases, "recall@5": recall, "answer_accuracy": 0.5},
                "naive": {"metrics": {"recall@5": 0.25, "answer_accuracy": 0.125}}}
        (d / "metrics.json").write_text(json.dumps(data), encoding="utf-8")
        return d

    old = run("20260101T000000Z", "starter", 10, 0.8)
    run("20260102T000000Z", "starter", 5, 0.6)  # other --limit: not comparable
    newest = run("20260103T000000Z", "ncp_policy", 300, 0.4431)
    html = write_index(tmp_path / "eval", highlight=[newest]).read_text(encoding="utf-8")
    links = re.findall(r"href='(runs/[^']+/report\.html)'", html)
    assert links == [f"runs/{d}/report.html" for d in
                     ("20260103T000000Z-ncp_policy", "20260102T000000Z-starter", "20260101T000000Z-starter")]
    assert "44.3%" in html and "80.0%" in html and "12.5%" in html and "本次" in html
    assert not _external_refs(html)

    assert previous_run(runs, "starter", Path("sets/x.jsonl"), 10, "20260105T000000Z") == old
    assert previous_run(runs, "starter", Path("sets/x.jsonl"), 10, "20260101T000000Z") is None
    assert previous_run(runs, "starter", Path("sets/y.jsonl"), 10, "20260105T000000Z") is None
