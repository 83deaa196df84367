"""The evaluation report's figures, drawn with matplotlib and returned as base64 PNGs.

Nothing here knows about HTML: eval/report.py puts the images into its page. Labels are Chinese
when a CJK font is installed (Noto Sans CJK or WenQuanYi) and English otherwise, so a machine
without one draws readable plots rather than boxes; tags that cannot be drawn become T1, T2…

>>> report_plots(data, tag_codes(data))  # doctest: +SKIP
[('检索召回曲线：前 k 段中含证据的题目比例', 'iVBORw0KGgo...'), ...]
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CJK_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
PROJECT_COLOR, NAIVE_COLOR, OLD_COLOR = "#1f6feb", "#e8871e", "#8c959f"


# ------------------------------------------------------------------------------------------------
# Fonts and figures


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


def tag_codes(data: dict[str, Any]) -> dict[str, str]:
    """Plot labels for tags: the tag itself, or T1, T2… when no CJK font can draw it."""
    cjk = _Fonts.setup()
    codes = {}
    for i, tag in enumerate(data.get("by_tag", {}), 1):
        codes[tag] = tag if cjk or tag.isascii() else f"T{i}"
    return codes


# ------------------------------------------------------------------------------------------------
# The plots


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


def report_plots(data: dict[str, Any], codes: dict[str, str]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of every plot that could be drawn; ``codes`` from :func:`tag_codes`."""
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
