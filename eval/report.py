"""``report.html``: one self-contained page per evaluation run, and an index of runs.

No external scripts, fonts or style sheets: the CSS is inline and the plots are PNGs embedded as
``data:`` URIs, so the file can be mailed or opened offline. Readable on a 375 px phone (tables
scroll sideways, plots shrink) and on a desktop. Every piece of text is escaped.

>>> write_report(json.loads(Path("run/metrics.json").read_text()), Path("run/report.html"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from eval.harness import squash

log = logging.getLogger(__name__)

CJK_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
MAX_FAILED_SHOWN = 300
PROJECT_COLOR, NAIVE_COLOR, OLD_COLOR = "#1f6feb", "#e8871e", "#8c959f"

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

CSS = """
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1d2430;line-height:1.55;font-size:15px;
 font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:.3rem 0 .6rem}
h2{font-size:1.1rem;margin:1.8rem 0 .6rem;padding-bottom:.2rem;border-bottom:1px solid #d8dce3}
h3{font-size:1rem;margin:1rem 0 .4rem}
p{margin:.4rem 0}
a{color:#0b5cad}
.sub{color:#5b6472;font-size:.9rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;background:#fff;border:1px solid #e1e4ea;border-radius:8px;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:6px 10px;border-bottom:1px solid #edf0f3;text-align:right;white-space:nowrap;vertical-align:top}
thead th{background:#f0f2f5;font-weight:600}
th:first-child,td:first-child{text-align:left;position:sticky;left:0;background:#fff}
thead th:first-child{background:#f0f2f5}
tbody tr:last-child td{border-bottom:0}
td.wrap,th.wrap{white-space:normal;min-width:14em;max-width:28em;text-align:left}
td.l,th.l{text-align:left}
table.free th:first-child,table.free td:first-child{position:static}
table.free td.l{white-space:normal;min-width:6.5em}
.better{color:#0a6b2b;background:#e3f4e8}
.worse{color:#a4231b;background:#fde9e7}
.same{color:#5b6472}
.ok{color:#0a6b2b}.bad{color:#a4231b}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,480px),1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:8px}
figure img{display:block;width:100%;height:auto}
figcaption{font-size:.85rem;color:#5b6472;padding:4px 4px 0}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 14px;margin:.4rem 0;font-size:.88rem}
dl.meta dt{color:#5b6472}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.note{background:#fff7e0;border-left:4px solid #e5a800;padding:8px 12px;margin:8px 0;border-radius:4px}
details.case{background:#fff;border:1px solid #e1e4ea;border-radius:8px;margin:8px 0;padding:8px 12px}
details.case summary{cursor:pointer;overflow-wrap:anywhere}
details.case[open] summary{margin-bottom:6px}
.cid{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem;color:#5b6472}
.tag{display:inline-block;font-size:.75rem;background:#eef1f5;color:#4a5361;border-radius:10px;padding:0 7px;margin:0 3px 0 0}
.status{font-size:.8rem;font-weight:600;border-radius:4px;padding:0 5px;margin-left:4px}
.status.bad{background:#fde9e7}.status.ok{background:#e3f4e8}
ol.hits{margin:.2rem 0 .4rem;padding-left:1.4rem}
ol.hits li{margin:.25rem 0}
.snippet{color:#4a5361;font-size:.85rem;overflow-wrap:anywhere}
.answer{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;border-radius:6px;padding:6px 8px;font-size:.9rem;margin:.2rem 0}
.k{color:#5b6472;font-size:.85rem;margin-top:.4rem}
.kw{display:inline-block;margin:0 10px 0 0}
footer{color:#5b6472;font-size:.8rem;margin:2rem 0 1rem}
@media (max-width:600px){
 body{font-size:14px}
 main{padding:10px}
 th,td{padding:5px 7px}
 dl.meta{grid-template-columns:minmax(0,1fr)}
 dl.meta dt{margin-top:4px}
 td.wrap,th.wrap{min-width:11em}
}
"""


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


def _delta(key: str, new: Any, old: Any) -> float | None:
    if isinstance(new, int | float) and isinstance(old, int | float):
        return float(new) - float(old)
    return None


def _td_delta(key: str, new: Any, old: Any) -> str:
    text, cls = fmt_delta(key, _delta(key, new, old))
    return f'<td class="{cls}">{escape(text)}</td>'


# ------------------------------------------------------------------------------------------------
# Plots


class _Fonts:
    """Whether a CJK font is available to matplotlib (checked once)."""

    family: list[str] | None = None
    cjk = False

    @classmethod
    def setup(cls) -> bool:
        if cls.family is not None:
            return cls.cjk
        from matplotlib import font_manager

        cls.family = ["DejaVu Sans"]
        for path in CJK_FONT_FILES:
            if path.is_file():
                try:
                    font_manager.fontManager.addfont(str(path))
                    name = font_manager.FontProperties(fname=str(path)).get_name()
                except (OSError, RuntimeError, ValueError) as exc:
                    log.warning("cannot use font %s: %s", path, exc)
                    continue
                cls.family = [name, "DejaVu Sans"]
                cls.cjk = True
                break
        return cls.cjk


def _label(text: str, cjk: bool, fallback: str) -> str:
    return text if cjk or text.isascii() else fallback


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _rc() -> dict[str, Any]:
    _Fonts.setup()
    return {"font.family": _Fonts.family, "axes.unicode_minus": False, "font.size": 12,
            "axes.spines.top": False, "axes.spines.right": False}


def plot_recall_curve(data: dict[str, Any], cjk: bool) -> str:
    fig = _figure(5.6, 3.5)
    ax = fig.add_subplot()
    ks = list(range(1, 11))
    series = [(_label("本项目", cjk, "project"), data.get("recall_curve"), PROJECT_COLOR, "-", 3)]
    if data.get("naive"):
        series.append((_label("朴素参照", cjk, "naive reference"), data["naive"].get("recall_curve"), NAIVE_COLOR, "-", 2))
    old = (data.get("compare") or {}).get("old_curve")
    if old:
        series.append((_label("上次（本项目）", cjk, "previous run"), old, OLD_COLOR, "--", 1))
    plotted = 0
    for label, curve, color, style, z in series:
        if curve and any(v is not None for v in curve):
            ys = [v if v is not None else float("nan") for v in curve][: len(ks)]
            ax.plot(ks[: len(ys)], ys, style, marker="o", markersize=4, color=color, label=label, zorder=z)
            plotted += 1
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(_label("k（取前 k 段）", cjk, "k (top k passages)"))
    ax.set_ylabel("recall@k")
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend(loc="best", frameon=False)
    else:  # a run of unanswerable cases only (--tag unanswerable): nothing to recall
        ax.text(0.5, 0.5, _label("没有可答题，无召回曲线", cjk, "no answerable cases"), ha="center", va="center",
                transform=ax.transAxes, color="#666666")
    return _png(fig)


def plot_latency(data: dict[str, Any], cjk: bool) -> str:
    import numpy as np

    fig = _figure(5.6, 3.5)
    ax = fig.add_subplot()
    groups = [(_label("本项目", cjk, "project"), [c["latency_ms"] for c in data.get("cases", [])], PROJECT_COLOR)]
    if data.get("naive"):
        groups.append((_label("朴素参照", cjk, "naive reference"),
                       [c["latency_ms"] for c in data["naive"].get("cases", [])], NAIVE_COLOR))
    values = [v for _, vs, _ in groups for v in vs if v and v > 0]
    if values:
        lo, hi = max(min(values), 0.1), max(values)
        bins = np.logspace(np.log10(lo * 0.9), np.log10(hi * 1.1), 30) if hi > lo * 1.5 else 20
        for label, vs, color in groups:
            vs = [v for v in vs if v and v > 0]
            if vs:
                ax.hist(vs, bins=bins, alpha=0.6, color=color, label=f"{label} (p50 {np.median(vs):.0f} ms)")
        if not isinstance(bins, int):
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(frameon=False)
    ax.set_xlabel(_label("每题用时（毫秒，对数坐标）", cjk, "latency per question (ms, log scale)"))
    ax.set_ylabel(_label("题数", cjk, "questions"))
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_tags(data: dict[str, Any], cjk: bool, codes: dict[str, str]) -> str:
    import numpy as np

    tags = list(data.get("by_tag", {}))
    naive_tags = (data.get("naive") or {}).get("by_tag", {})
    panels = [("recall@5", "recall@5"), ("answer_accuracy", _label("答案正确率", cjk, "answer accuracy"))]
    n = max(1, len(tags))
    fig = _figure(5.6, 1.4 + 0.36 * n * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True)
    y = np.arange(n)
    height = 0.38 if naive_tags else 0.6
    labels = [codes.get(t, t) for t in tags]
    for ax, (key, title) in zip(axes, panels, strict=True):
        raw = [data["by_tag"][t].get(key) for t in tags]
        proj = [v or 0.0 for v in raw]
        for i, v in enumerate(raw):
            if v is None:  # e.g. only unanswerable questions: nothing to measure
                ax.text(0.01, i, "n/a", va="center", fontsize=9, color="#5b6472")
        if naive_tags:
            nv = [(naive_tags.get(t) or {}).get(key) or 0.0 for t in tags]
            ax.barh(y - height / 2, proj, height, color=PROJECT_COLOR, label=_label("本项目", cjk, "project"))
            ax.barh(y + height / 2, nv, height, color=NAIVE_COLOR, label=_label("朴素参照", cjk, "naive reference"))
        else:
            ax.barh(y, proj, height, color=PROJECT_COLOR, label=_label("本项目", cjk, "project"))
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", ncol=2, frameon=False)
    axes[-1].set_xlabel(_label("比例（按标签）", cjk, "share (per tag)"))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return _png(fig)


def _plots(data: dict[str, Any], codes: dict[str, str]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of every plot that could be drawn."""
    from matplotlib import rc_context

    out = []
    with rc_context(_rc()):  # type: ignore[arg-type]
        cjk = _Fonts.cjk
        makers = [
            ("检索召回曲线：前 k 段中含证据的题目比例", lambda: plot_recall_curve(data, cjk)),
            ("每题用时分布", lambda: plot_latency(data, cjk)),
        ]
        if len(data.get("by_tag") or {}) > 1:  # one tag (an external set) says nothing the summary does not
            makers.append(("各标签的 recall@5 与答案正确率", lambda: plot_tags(data, cjk, codes)))
        for caption, make in makers:
            try:
                out.append((caption, make()))
            except Exception as exc:  # a plot must never cost the whole report
                log.warning("plot %r failed: %s", caption, exc)
    return out


# ------------------------------------------------------------------------------------------------
# Sections


def _config_section(data: dict[str, Any]) -> str:
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
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    return f'<dl class="meta">{dl}</dl>'


def _notes(data: dict[str, Any]) -> str:
    return "".join(f'<p class="note">{escape(n)}</p>' for n in data.get("notes", []))


def _summary_table(data: dict[str, Any]) -> str:
    m = data.get("metrics", {})
    nv = (data.get("naive") or {}).get("metrics")
    cmp = data.get("compare")
    head = ["指标", "本项目"]
    if nv:
        head += ["朴素参照", "本项目 − 参照"]
    if cmp:
        head += ["上次", "与上次相比"]
    rows = []
    for key, label, _ in METRICS:
        if key not in m and not (nv and key in nv):
            continue
        cells = [f"<td>{escape(label)}</td>", f"<td><b>{escape(fmt(key, m.get(key)))}</b></td>"]
        if nv:
            cells.append(f"<td>{escape(fmt(key, nv.get(key)))}</td>")
            cells.append(_td_delta(key, m.get(key), nv.get(key)) if key != "cases" else "<td></td>")
        if cmp:
            old = cmp["metrics"].get(key, {}).get("old")
            cells.append(f"<td>{escape(fmt(key, old))}</td>")
            cells.append(_td_delta(key, m.get(key), old))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="scroll"><table id="summary"><thead><tr>{thead}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _tag_table(data: dict[str, Any], codes: dict[str, str]) -> str:
    by_tag = data.get("by_tag", {})
    if not by_tag:
        return ""
    naive_tags = (data.get("naive") or {}).get("by_tag", {})
    refusals = any(m.get("refusal_accuracy") is not None for m in by_tag.values())
    head = ["标签", "题数", "recall@5", "答案正确率", *(["不可答题拒答率"] if refusals else [])]
    if naive_tags:
        head += ["参照 recall@5", "参照答案正确率"]
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
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f'<div class="scroll"><table id="tags"><thead><tr>{thead}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _rank_text(rank: Any) -> str:
    return f"第 {rank} 段" if rank else "前 10 段未命中"


def _hits(retrieved: Sequence[dict[str, Any]], rank: Any, n: int = 3) -> str:
    items = []
    for i, h in enumerate(retrieved[:n], 1):
        mark = ' <span class="ok">✓ 含证据</span>' if rank == i else ""
        title = h.get("title") or h.get("doc_id") or "（无标题）"
        doc = f' <span class="cid">{escape(str(h.get("doc_id", "")))}</span>' if h.get("doc_id") else ""
        items.append(f"<li><b>{escape(str(title))}</b>{doc}{mark}"
                     f'<div class="snippet">{escape(str(h.get("text", "")))}…</div></li>')
    return f'<ol class="hits">{"".join(items)}</ol>' if items else "<p>（没有检索到任何段落）</p>"


def _case_card(c: dict[str, Any], naive_case: dict[str, Any] | None) -> str:
    wrong = "未含参考答案" if c.get("reference_answers") else "缺关键词"
    status = ("拒答" if c["refused"] else wrong) if c["answerable"] else "应拒答却回答"
    tags = "".join(f'<span class="tag">{escape(t)}</span>' for t in c.get("tags", []))
    parts = [
        f'<details class="case"><summary><span class="cid">{escape(c["id"])}</span> '
        f'{escape(c["question"])} <span class="status bad">{escape(status)}</span></summary>',
        f"<div>{tags}</div>",
    ]
    if c.get("expected_evidence"):
        label = "标准答案文档" if c.get("reference_answers") else "期望证据"
        parts.append(f'<div class="k">{label}</div><div>{escape("；".join(c["expected_evidence"]))}</div>')
    if c.get("reference_answers"):
        parts.append(f'<div class="k">参考答案（含任一即可）</div><div>{escape("；".join(c["reference_answers"]))}</div>')
    if c.get("answer_keywords"):
        said = squash(c.get("answer", "")) if not c.get("refused") else ""
        words = "".join(
            f'<span class="kw {"ok" if squash(k) in said else "bad"}">{"✓" if squash(k) in said else "✗"} {escape(k)}</span>'
            for k in c["answer_keywords"])
        parts.append(f'<div class="k">回答应含的关键词</div><div>{words}</div>')
    if c["answerable"]:
        parts.append(f'<div class="k">检索（含证据的首段：{escape(_rank_text(c.get("first_relevant_rank")))}），前 3 段</div>')
    else:
        parts.append('<div class="k">检索，前 3 段</div>')
    parts.append(_hits(c.get("retrieved", []), c.get("first_relevant_rank")))
    answer = c.get("answer", "")
    parts.append(f'<div class="k">回答（{escape(c.get("mode", ""))}）</div>'
                 f'<div class="answer">{escape(answer[:800] + ("…" if len(answer) > 800 else ""))}</div>')
    if c.get("reason"):
        parts.append(f'<div class="k">原因：{escape(c["reason"])}</div>')
    if naive_case is not None:
        ok = "答对" if naive_case.get("correct") else "答错"
        parts.append(f'<div class="k">朴素参照：{escape(_rank_text(naive_case.get("first_relevant_rank")))}，{ok}</div>')
    parts.append("</details>")
    return "".join(parts)


def _failed_section(data: dict[str, Any]) -> str:
    failed = [c for c in data.get("cases", []) if not c["correct"]]
    naive_by_id = {c["id"]: c for c in (data.get("naive") or {}).get("cases", [])}
    if not failed:
        return "<p>没有答错的题。</p>"
    shown = failed[:MAX_FAILED_SHOWN]
    more = f"<p class='sub'>只列出前 {len(shown)} 题，全部见 metrics.json。</p>" if len(failed) > len(shown) else ""
    intro = (f"<p class='sub'>{len(failed)} 题未答对（共 {len(data.get('cases', []))} 题）。"
             "点开看期望的证据、检索到的前 3 段和回答。</p>")
    return intro + "".join(_case_card(c, naive_by_id.get(c["id"])) for c in shown) + more


def _compare_section(data: dict[str, Any]) -> str:
    cmp = data.get("compare")
    if not cmp:
        return ""
    old_cfg = cmp.get("old_config", {})
    parts = [f"<h2 id='compare'>与上次运行对比</h2><p class='sub'>上次：{escape(cmp['old_dir'])}"
             f"（{escape(str(old_cfg.get('timestamp', '')))}，代码 {escape(str(old_cfg.get('git_commit') or '—'))}，"
             f"{escape(str(old_cfg.get('cases', '')))} 题）。答对变多 {cmp['fixed']} 题，答错变多 {cmp['broken']} 题。</p>"]
    for title, block in (("本项目", cmp.get("metrics", {})), ("朴素参照", cmp.get("naive_metrics", {}))):
        if not block:
            continue
        rows = []
        for key, label, _ in METRICS:
            d = block.get(key)
            if d is None:
                continue
            rows.append(f"<tr><td>{escape(label)}</td><td>{escape(fmt(key, d['old']))}</td>"
                        f"<td>{escape(fmt(key, d['new']))}</td>{_td_delta(key, d['new'], d['old'])}</tr>")
        parts.append(f"<h3>{escape(title)}：各项指标的变化</h3><div class='scroll'><table class='cmp'><thead><tr>"
                     "<th>指标</th><th>上次</th><th>本次</th><th>变化</th></tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table></div>")
    changed = cmp.get("changed", [])
    parts.append(f"<h3>结果变了的题（{len(changed)}）</h3>")
    if changed:
        rows = []
        for c in changed:
            def state(correct: bool, refused: bool, rank: Any) -> str:
                word = "✓ 答对" if correct else ("✗ 拒答" if refused else "✗ 答错")
                return f"{word}，{_rank_text(rank)}"

            cls = "better" if c["new_correct"] and not c["old_correct"] else (
                "worse" if c["old_correct"] and not c["new_correct"] else "same")
            answer = c["new_answer"][:200] + ("…" if len(c["new_answer"]) > 200 else "")
            rows.append(
                f"<tr><td class='wrap'><span class='cid'>{escape(c['id'])}</span><br>{escape(c['question'])}"
                f"<div class='snippet'>本次回答：{escape(answer)}</div></td>"
                f"<td class='l'>{escape(state(c['old_correct'], c['old_refused'], c['old_rank']))}</td>"
                f"<td class='l {cls}'>{escape(state(c['new_correct'], c['new_refused'], c['new_rank']))}</td></tr>")
        parts.append("<div class='scroll'><table id='changed' class='free'><thead><tr><th class='wrap'>题目</th>"
                     "<th class='l'>上次</th><th class='l'>本次</th></tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table></div>")
    else:
        parts.append("<p>没有哪道题的对错或前 5 段命中发生变化。</p>")
    for key, label in (("only_new", "只在本次出现的题"), ("only_old", "只在上次出现的题")):
        if cmp.get(key):
            ids = cmp[key]
            parts.append(f"<p class='sub'>{label}：{len(ids)} 题（{escape('、'.join(ids[:20]))}"
                         f"{'…' if len(ids) > 20 else ''}）</p>")
    return "".join(parts)


def _tag_codes(data: dict[str, Any], cjk: bool) -> dict[str, str]:
    """Plot labels for tags: the tag itself, or T1, T2… when no CJK font can draw it."""
    codes = {}
    for i, tag in enumerate(data.get("by_tag", {}), 1):
        codes[tag] = tag if cjk or tag.isascii() else f"T{i}"
    return codes


# ------------------------------------------------------------------------------------------------
# Pages


def _page(title: str, body: str) -> str:
    return ("<!doctype html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


def render_report(data: dict[str, Any]) -> str:
    c = data.get("config", {})
    name = c.get("set", "")
    cjk = _Fonts.setup()
    codes = _tag_codes(data, cjk)
    plots = _plots(data, codes)
    figures = "".join(
        f"<figure><img alt='{escape(cap)}' src='data:image/png;base64,{b64}'><figcaption>{escape(cap)}</figcaption>"
        "</figure>" for cap, b64 in plots)
    nv = data.get("naive")
    naive_line = ("<p class='sub'>朴素参照：LangChain 教程的默认做法——原始文本不清洗，"
                  "RecursiveCharacterTextSplitter(1000, 200) 切分，只用向量检索，“回答”取第一段的前 300 字，从不拒答；"
                  "与本项目用同一个嵌入模型，只有流程不同。</p>") if nv else ""
    body = [
        f"<h1>评测报告 · {escape(name)}</h1>",
        f"<p class='sub'>{escape(str(c.get('cases', '')))} 题 · {escape(c.get('mode', ''))} · "
        f"{escape(c.get('timestamp', ''))}</p>",
        _notes(data),
        "<h2 id='summary-h'>总览</h2>",
        "<p class='sub'>检索指标只算可回答的题：某段含期望证据（外部集：属于标准答案文档）即命中。"
        "答案正确：含全部关键词（外部集：含任一参考答案），不可答的题则须拒答。</p>",
        _summary_table(data),
        naive_line,
        "<h2>图</h2>",
        f"<div class='plots'>{figures}</div>" if figures else "<p>（未能生成图）</p>",
    ]
    tag_table = _tag_table(data, codes)
    if tag_table:
        body += ["<h2>按标签</h2>", tag_table]
    body.append(_compare_section(data))
    body += ["<h2 id='failed'>未答对的题</h2>", _failed_section(data)]
    body += ["<h2>运行设置</h2>", _config_section(data),
             f"<footer>shegong 评测 · 生成于 {escape(dt.datetime.now(dt.UTC).isoformat(timespec='seconds'))} · "
             "数据见同目录 metrics.json</footer>"]
    return _page(f"评测报告 {name}", "".join(body))


def write_report(data: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


def write_index(eval_dir: Path, highlight: Sequence[Path] = ()) -> Path:
    """``eval_dir/index.html``: every run under ``eval_dir/runs`` with its headline figures, newest first."""
    runs = []
    for metrics_file in sorted((eval_dir / "runs").glob("*/metrics.json"), reverse=True):
        try:
            data = json.loads(metrics_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        runs.append((metrics_file.parent, data))
    marked = {Path(p).resolve() for p in highlight}
    rows = []
    for run_dir, data in runs:
        c, m = data.get("config", {}), data.get("metrics", {})
        nm = (data.get("naive") or {}).get("metrics") or {}
        href = f"runs/{run_dir.name}/report.html"
        new = " <span class='status ok'>本次</span>" if run_dir.resolve() in marked else ""
        cells = [
            f"<td><a href='{escape(href, quote=True)}'>{escape(str(c.get('set', run_dir.name)))}</a>{new}"
            f"<div class='cid'>{escape(run_dir.name)}</div></td>",
            *(f"<td>{escape(fmt(k, m.get(k)))}</td>" for k in ("cases", "recall@5", "answer_accuracy")),
            *(f"<td>{escape(fmt(k, nm.get(k)))}</td>" for k in ("recall@5", "answer_accuracy")),
            f"<td>{escape(fmt('refusal_accuracy', m.get('refusal_accuracy')))}</td>",
            f"<td>{escape(fmt('latency_ms_p50', m.get('latency_ms_p50')))}</td>",
            f"<td>{escape(str(c.get('duration_s', '—')))}</td>",
            f"<td class='l'>{escape(str(c.get('git_commit') or '—'))}</td>",
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = ["运行", "题数", "recall@5", "答案正确率", "参照 recall@5", "参照答案正确率", "拒答率（不可答题）",
            "延迟 p50 ms", "用时 秒", "代码版本"]
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    table = (f"<div class='scroll'><table id='runs'><thead><tr>{thead}</tr></thead><tbody>{''.join(rows)}</tbody>"
             "</table></div>") if rows else "<p>还没有评测运行。</p>"
    body = ("<h1>shegong 评测</h1><p class='sub'>每次运行一行，最新的在前；点开看完整报告。"
            "“参照”是朴素 RAG 流程（LangChain 教程默认设置）在同一测试集上的成绩。</p>" + table)
    path = eval_dir / "index.html"
    eval_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(_page("shegong 评测", body), encoding="utf-8")
    return path
