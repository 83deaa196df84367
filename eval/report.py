"""``report.html``: one self-contained page per evaluation run, and an index of runs.

No external scripts, fonts or style sheets: the CSS is inline and the plots are PNGs embedded as
``data:`` URIs, so the file can be mailed or opened offline. Readable on a 375 px phone (tables
scroll sideways, plots shrink) and on a desktop.

This module turns a run's ``metrics.json`` into plain data for the page — numbers formatted by
:func:`fmt` and :func:`fmt_delta`, table rows, one card per failed case — and renders it with the
Jinja2 templates in ``eval/templates`` (the page layout and CSS live there). The figures come from
eval/plots.py. Every value a template prints is escaped by the template environment.

>>> write_report(json.loads(Path("run/metrics.json").read_text()), Path("run/report.html"))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from eval import plots
from eval.harness import squash

MAX_FAILED_SHOWN = 300

# (key, label, kind): kind "ratio" is shown as a percentage, "count" and "ms" as numbers.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("cases", "题数", "count"),
    ("recall@1", "recall@1 首位命中", "ratio"),
    ("recall@5", "recall@5 前 5 段命中", "ratio"),
    ("recall@10", "recall@10 前 10 段命中", "ratio"),
    ("mrr@10", "MRR@10", "ratio"),
    ("answer_accuracy", "答案正确率", "ratio"),
    ("citation_correct", "引用正确率", "ratio"),
    ("refusal_precision", "拒答精确率", "ratio"),
    ("refusal_recall", "拒答召回率", "ratio"),
    ("refusal_accuracy", "不可答题拒答率", "ratio"),
    ("false_refusals", "误拒答（题）", "count"),
    ("latency_ms_p50", "延迟 p50（毫秒）", "ms"),
    ("latency_ms_p95", "延迟 p95（毫秒）", "ms"),
)
_KIND = {k: kind for k, _, kind in METRICS}
LOWER_IS_BETTER = {"latency_ms_p50", "latency_ms_p95", "false_refusals"}


# ------------------------------------------------------------------------------------------------
# Templates


def _escaped(value: Any) -> Markup:
    """Every ``{{ }}`` value as the page prints it: escaped, unless it is markup already (a macro).

    Jinja's own escaping would do, but writes ``'`` as ``&#39;``; escaping as ``html.escape`` does
    (``&#x27;``, ``&quot;``) keeps the pages byte for byte what they were before the templates.
    """
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(html.escape(str(value)))


# Templates beside this module, so they are found wherever the package is installed (package data).
# StrictUndefined: a misspelt name in a template is an error, not a silently empty cell.
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    finalize=_escaped,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


# ------------------------------------------------------------------------------------------------
# Formatting


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    kind = _KIND.get(key, "ratio" if isinstance(value, float) and 0 <= value <= 1 else "count")
    if kind == "ratio":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def fmt_delta(key: str, delta: Any) -> tuple[str, str]:
    """(text, css class) of a difference; the class says whether it is better or worse."""
    if delta is None:
        return "—", "same"
    kind = _KIND.get(key, "ratio")
    if abs(delta) < (0.5 if kind == "ms" else 5e-5):  # below what is shown
        return "±0", "same"
    better = (delta < 0) if key in LOWER_IS_BETTER else (delta > 0)
    if kind == "ratio":
        text = f"{delta * 100:+.1f} pt"
    elif kind == "ms":
        text = f"{delta:+,.0f} ms"
    else:
        text = f"{delta:+g}"
    cls = "same" if key == "cases" else ("better" if better else "worse")
    return text, cls


class Delta(NamedTuple):
    """A difference cell: its text and its class (better, worse, same)."""

    text: str
    cls: str


def _delta(key: str, new: Any, old: Any) -> Delta:
    diff = float(new) - float(old) if isinstance(new, int | float) and isinstance(old, int | float) else None
    return Delta(*fmt_delta(key, diff))


def _rank_text(rank: Any) -> str:
    return f"第 {rank} 段" if rank else "前 10 段未命中"


# ------------------------------------------------------------------------------------------------
# Sections: the data each part of report.html.j2 prints


def _settings(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) of the run's settings, the page's last section."""
    c = data.get("config", {})
    kb = c.get("knowledge_base") or {}
    kb_text = kb.get("server") or kb.get("dir") or ""
    if kb.get("server") and kb.get("documents") is not None:
        kb_text += f"（{kb['documents']} 个文档，{kb.get('chunks')} 段）"
    if kb.get("reused"):
        kb_text += "（已建好，未重新导入）"
    elif kb.get("ingest"):
        i = kb["ingest"]
        kb_text += (f"（新增 {i['added']}，更新 {i['updated']}，未变 {i['unchanged']}，失败 {i['failed_count']}；"
                    f"嵌入 {i['chunks_embedded']} 段，{i['seconds']} 秒）")
    rows = [
        ("测试集", f"{c.get('testset', '')}（{c.get('kind', '')}）"),
        ("题数", f"{c.get('cases')}" + (f" / {c.get('cases_in_set')}（--limit {c['limit']}）" if c.get("limit") else "")),
        ("文档", "、".join(c.get("docs", []))),
        ("方式", c.get("mode", "")),
        ("知识库", kb_text),
        ("嵌入模型", c.get("embed_model") or "—"),
        ("回答", c.get("llm", "")),
        ("代码版本", c.get("git_commit") or "—"),
        ("时间（UTC）", c.get("timestamp", "")),
        ("用时", f"{c.get('duration_s', '—')} 秒（本项目答题 {c.get('project_seconds', '—')} 秒）"),
    ]
    nv = data.get("naive")
    if nv:
        nc = nv.get("config", {})
        b = nc.get("build", {})
        rows.append(("朴素参照", f"{nc.get('pipeline', '')}；chunk_size={nc.get('chunk_size')}，"
                                 f"overlap={nc.get('chunk_overlap')}；{nc.get('docs')} 个文档、{b.get('chunks')} 段"
                                 f"（本次嵌入 {b.get('embedded')} 段）；{nc.get('seconds')} 秒"))
    return [(k, str(v)) for k, v in rows]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    """The summary table: one row per metric the run (or its naive reference) has."""
    m = data.get("metrics", {})
    nv = (data.get("naive") or {}).get("metrics")
    cmp = data.get("compare")
    rows = []
    for key, label, _ in METRICS:
        if key not in m and not (nv and key in nv):
            continue
        row: dict[str, Any] = {"label": label, "value": fmt(key, m.get(key))}
        if nv:
            row["naive"] = fmt(key, nv.get(key))
            # the two runs answer the same cases: a difference in their number means nothing
            row["naive_delta"] = _delta(key, m.get(key), nv.get(key)) if key != "cases" else None
        if cmp:
            old = cmp["metrics"].get(key, {}).get("old")
            row["old"] = fmt(key, old)
            row["old_delta"] = _delta(key, m.get(key), old)
        rows.append(row)
    return {"naive": bool(nv), "compare": bool(cmp), "rows": rows}


def _tags(data: dict[str, Any], codes: dict[str, str]) -> dict[str, Any] | None:
    """The per-tag table, or None when the run has no tags."""
    by_tag = data.get("by_tag", {})
    if not by_tag:
        return None
    naive_tags = (data.get("naive") or {}).get("by_tag", {})
    refusals = any(m.get("refusal_accuracy") is not None for m in by_tag.values())
    rows = []
    for tag, m in by_tag.items():
        label = tag + (f"（图中 {codes[tag]}）" if tag in codes and codes[tag] != tag else "")
        cells = [label, fmt("cases", m.get("cases")), fmt("recall@5", m.get("recall@5")),
                 fmt("answer_accuracy", m.get("answer_accuracy"))]
        if refusals:
            cells.append(fmt("refusal_accuracy", m.get("refusal_accuracy")))
        if naive_tags:
            n = naive_tags.get(tag, {})
            cells += [fmt("recall@5", n.get("recall@5")), fmt("answer_accuracy", n.get("answer_accuracy"))]
        rows.append([str(c) for c in cells])
    return {"refusals": refusals, "naive": bool(naive_tags), "rows": rows}


def _hits(retrieved: Sequence[dict[str, Any]], rank: Any, n: int = 3) -> list[dict[str, Any]]:
    return [{"title": str(h.get("title") or h.get("doc_id") or "（无标题）"),
             "doc_id": str(h.get("doc_id", "")) if h.get("doc_id") else "",
             "evidence": rank == i,
             "text": str(h.get("text", ""))}
            for i, h in enumerate(retrieved[:n], 1)]


def _case_card(c: dict[str, Any], naive_case: dict[str, Any] | None) -> dict[str, Any]:
    """One failed case, folded: what was expected, what was retrieved, what was answered."""
    wrong = "未含参考答案" if c.get("reference_answers") else "缺关键词"
    status = ("拒答" if c["refused"] else wrong) if c["answerable"] else "应拒答却回答"
    said = squash(c.get("answer", "")) if not c.get("refused") else ""
    answer = c.get("answer", "")
    # None, not "", for a missing list: the template shows a block for a list that is there at all
    evidence, references = c.get("expected_evidence"), c.get("reference_answers")
    return {
        "id": c["id"],
        "question": c["question"],
        "status": status,
        "tags": c.get("tags", []),
        "evidence": "；".join(evidence) if evidence else None,
        "references": "；".join(references) if references else None,
        "keywords": [{"word": k, "found": squash(k) in said} for k in c.get("answer_keywords") or []],
        "answerable": c["answerable"],
        "rank": _rank_text(c.get("first_relevant_rank")),
        "hits": _hits(c.get("retrieved", []), c.get("first_relevant_rank")),
        "mode": c.get("mode", ""),
        "answer": answer[:800] + ("…" if len(answer) > 800 else ""),
        "reason": c.get("reason") or "",
        "naive": None if naive_case is None else {"rank": _rank_text(naive_case.get("first_relevant_rank")),
                                                  "correct": bool(naive_case.get("correct"))},
    }


def _failed(data: dict[str, Any]) -> dict[str, Any]:
    """The failed cases: how many, and a card for each of the first MAX_FAILED_SHOWN."""
    failed = [c for c in data.get("cases", []) if not c["correct"]]
    naive_by_id = {c["id"]: c for c in (data.get("naive") or {}).get("cases", [])}
    return {"count": len(failed), "total": len(data.get("cases", [])),
            "cards": [_case_card(c, naive_by_id.get(c["id"])) for c in failed[:MAX_FAILED_SHOWN]]}


def _state(correct: bool, refused: bool, rank: Any) -> str:
    word = "✓ 答对" if correct else ("✗ 拒答" if refused else "✗ 答错")
    return f"{word}，{_rank_text(rank)}"


def _compare(data: dict[str, Any]) -> dict[str, Any] | None:
    """The comparison with the previous run, or None when there is none."""
    cmp = data.get("compare")
    if not cmp:
        return None
    old_cfg = cmp.get("old_config", {})
    blocks = []
    for title, block in (("本项目", cmp.get("metrics", {})), ("朴素参照", cmp.get("naive_metrics", {}))):
        if block:
            blocks.append({"title": title, "rows": [
                {"label": label, "old": fmt(key, d["old"]), "new": fmt(key, d["new"]),
                 "delta": _delta(key, d["new"], d["old"])}
                for key, label, _ in METRICS if (d := block.get(key)) is not None]})
    changed = []
    for c in cmp.get("changed", []):
        cls = "better" if c["new_correct"] and not c["old_correct"] else (
            "worse" if c["old_correct"] and not c["new_correct"] else "same")
        changed.append({"id": c["id"], "question": c["question"],
                        "answer": c["new_answer"][:200] + ("…" if len(c["new_answer"]) > 200 else ""),
                        "old": _state(c["old_correct"], c["old_refused"], c["old_rank"]),
                        "new": _state(c["new_correct"], c["new_refused"], c["new_rank"]), "cls": cls})
    only = [{"label": label, "count": len(ids), "ids": "、".join(ids[:20]) + ("…" if len(ids) > 20 else "")}
            for key, label in (("only_new", "只在本次出现的题"), ("only_old", "只在上次出现的题"))
            if (ids := cmp.get(key))]
    return {"old_dir": cmp["old_dir"], "old_timestamp": str(old_cfg.get("timestamp", "")),
            "old_commit": str(old_cfg.get("git_commit") or "—"), "old_cases": str(old_cfg.get("cases", "")),
            "fixed": cmp["fixed"], "broken": cmp["broken"], "blocks": blocks, "changed": changed, "only": only}


# ------------------------------------------------------------------------------------------------
# Pages


def render_report(data: dict[str, Any]) -> str:
    c = data.get("config", {})
    name = c.get("set", "")
    codes = plots.tag_codes(data)
    return _render(
        "report.html.j2",
        title=f"评测报告 {name}",
        name=name,
        cases=str(c.get("cases", "")),
        mode=c.get("mode", ""),
        timestamp=c.get("timestamp", ""),
        notes=data.get("notes", []),
        summary=_summary(data),
        naive=bool(data.get("naive")),
        figures=plots.report_plots(data, codes),
        tags=_tags(data, codes),
        compare=_compare(data),
        failed=_failed(data),
        settings=_settings(data),
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def write_report(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


def write_index(eval_dir: Path, highlight: Sequence[Path] = ()) -> Path:
    """``eval_dir/index.html``: every run under ``eval_dir/runs`` with its headline figures, newest first."""
    marked = {Path(p).resolve() for p in highlight}
    runs = []
    for metrics_file in sorted((eval_dir / "runs").glob("*/metrics.json"), reverse=True):
        try:
            data = json.loads(metrics_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        run_dir = metrics_file.parent
        c, m = data.get("config", {}), data.get("metrics", {})
        nm = (data.get("naive") or {}).get("metrics") or {}
        runs.append({
            "href": f"runs/{run_dir.name}/report.html",
            "name": str(c.get("set", run_dir.name)),
            "current": run_dir.resolve() in marked,
            "dir": run_dir.name,
            "cells": [*(fmt(k, m.get(k)) for k in ("cases", "recall@5", "answer_accuracy")),
                      *(fmt(k, nm.get(k)) for k in ("recall@5", "answer_accuracy")),
                      fmt("refusal_accuracy", m.get("refusal_accuracy")),
                      fmt("latency_ms_p50", m.get("latency_ms_p50")),
                      str(c.get("duration_s", "—"))],
            "commit": str(c.get("git_commit") or "—"),
        })
    path = eval_dir / "index.html"
    eval_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(_render("index.html.j2", title="shegong 评测", runs=runs), encoding="utf-8")
    return path
